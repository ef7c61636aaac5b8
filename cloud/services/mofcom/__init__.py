"""MOFCOM docking (issue 15): the programme's monthly statistics by county, in a
documented, versioned format (JSON and XLSX), and their scheduled push (FORMAT.md)."""
