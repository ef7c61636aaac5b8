"""The public-service system (公共服务信息系统) of issue 15, one subpackage per service:
stations, poverty-alleviation links, statistics forms, training, showcase, CMS, the H5
site and MOFCOM docking."""
