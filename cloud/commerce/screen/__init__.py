"""The big-data screen: the panel catalogue, its compilers (InfluxQL, SQL), the
Grafana dashboards built from it, and the built-in wall (/screen). README.md."""
