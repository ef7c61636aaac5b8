"""The public-service system (公共服务信息系统, issue 15): one subpackage per area."""
