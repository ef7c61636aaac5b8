"""``dehong grafana push``: send the generated dashboards to a running Grafana (sites
that run their own), with grafana-client. Grafana stays a separate service: this only
speaks its HTTP API.

- the prefecture (default): the folder ``Dehong`` and every dashboard of the
  catalogue in the current org (the data sources with uids ``dehong-influxdb`` and
  ``dehong-postgres`` come from provisioning, grafana/provisioning/, or the site);
- ``--county C``: the county's own org (``德宏 C``, made if missing; Grafana OSS
  isolates data sources per org), its Infinity data source carrying the county's
  display key (``--key-env``), and the county dashboard reading only our API.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from cloud.commerce.screen.catalogue import DASHBOARDS
from cloud.commerce.screen.grafana import (
    BuildOptions,
    county_dashboard,
    county_datasource,
    dashboard_json,
)

FOLDER_UID = "dehong"
FOLDER_TITLE = "Dehong"


@dataclass
class PushReport:
    org_id: int | None = None
    dashboards: list[str] = field(default_factory=list)
    datasources: list[str] = field(default_factory=list)


def _client(url: str, credential: str | tuple[str, str], org_id: int | None = None) -> Any:
    try:
        from grafana_client import GrafanaApi
    except ModuleNotFoundError as exc:  # pragma: no cover - installed with dehong[cloud]
        raise RuntimeError("grafana-client is not installed: pip install 'dehong[cloud]'") from exc
    api = GrafanaApi.from_url(url, credential=credential)
    if org_id is not None:
        api.client.s.headers["X-Grafana-Org-Id"] = str(org_id)
        api.client.organization_id = org_id
    return api


def _status(exc: Exception) -> int | None:
    return getattr(exc, "status_code", None)


def _folder(api: Any) -> None:
    from grafana_client.client import GrafanaClientError

    try:
        api.folder.create_folder(FOLDER_TITLE, uid=FOLDER_UID)
    except GrafanaClientError as exc:
        if _status(exc) not in (409, 412):  # exists already
            raise


def _dashboard(api: Any, body: dict[str, Any]) -> None:
    api.dashboard.update_dashboard(
        {"dashboard": body, "folderUid": FOLDER_UID, "overwrite": True,
         "message": "dehong grafana push"}
    )  # fmt: skip


def push(
    url: str,
    credential: str | tuple[str, str],
    *,
    county: str | None = None,
    county_key: str | None = None,
    opts: BuildOptions | None = None,
) -> PushReport:
    """Push the prefecture's dashboards, or one county's org (blocking: run in a thread)."""
    from grafana_client.client import GrafanaClientError

    opts = opts or BuildOptions()
    report = PushReport()
    if county is None:
        api = _client(url, credential)
        _folder(api)
        for d in DASHBOARDS:
            _dashboard(api, dashboard_json(d, opts))
            report.dashboards.append(d.uid)
        return report
    if not county_key:
        raise ValueError("county_key: a display key of the county is needed (--key-env)")
    admin = _client(url, credential)
    name = f"德宏 {county}"
    try:
        org_id = int(admin.organization.find_organization(name)["id"])
    except GrafanaClientError as exc:
        if _status(exc) != 404:
            raise
        org_id = int(admin.organization.create_organization({"name": name})["orgId"])
    report.org_id = org_id
    api = _client(url, credential, org_id)
    ds = county_datasource(county, opts, county_key)
    try:
        api.datasource.get_datasource_by_uid(ds["uid"])
        api.datasource.update_datasource_by_uid(ds["uid"], ds)
    except GrafanaClientError as exc:
        if _status(exc) != 404:
            raise
        api.datasource.create_datasource(ds)
    report.datasources.append(ds["uid"])
    _folder(api)
    body = county_dashboard(county, opts)
    _dashboard(api, body)
    report.dashboards.append(body["uid"])
    return report


def key_from_env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ValueError(
            f"{name}: the environment variable holding the county's display key is empty"
        )
    return value
