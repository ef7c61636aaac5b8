"""Public-service system of the programme (issue 15): stations, poverty-alleviation links, statistics forms, training, showcase, CMS, H5 site, MOFCOM docking."""
