# Seed sections on application item restore: Microsoft Active Directory
# domain controllers, Microsoft Exchange Server, Microsoft SQL Server.

flow "ad-rpc" {
  section     = "Microsoft Active Directory Domain Controller Connections During Application Item Restore"
  from        = ["backup_server"]
  to          = ["domain_controller"]
  protocol    = "tcp"
  ports       = [135]
  description = "Required for communication between the domain controller and the backup server."
}

flow "ad-ldap" {
  section     = "Microsoft Active Directory Domain Controller Connections During Application Item Restore"
  from        = ["backup_server"]
  to          = ["domain_controller"]
  protocol    = ["tcp", "udp"]
  ports       = [389]
  description = "LDAP connections."
}

flow "ad-ldaps-global-catalog" {
  section     = "Microsoft Active Directory Domain Controller Connections During Application Item Restore"
  from        = ["backup_server"]
  to          = ["domain_controller"]
  protocol    = "tcp"
  ports       = [636, 3268, 3269]
  description = "LDAP connections (LDAP over SSL, global catalog)."
}

flow "ad-dynamic-rpc" {
  section     = "Microsoft Active Directory Domain Controller Connections During Application Item Restore"
  from        = ["backup_server"]
  to          = ["domain_controller"]
  protocol    = "tcp"
  ports       = [local.dynamic_rpc_ports]
  when        = var.guest_dynamic_rpc
  description = "Dynamic port range (Microsoft Windows 2008 and later) used by the runtime coordination process deployed in the VM guest OS for application-aware processing; not needed with default Windows Firewall settings, where Veeam creates a rule for the runtime process."
}

flow "exchange-legacy-webdav" {
  section     = "Microsoft Exchange Server Connections During Application Item Restore"
  from        = ["backup_server"]
  to          = ["exchange_legacy_cas"]
  protocol    = "tcp"
  ports       = [80, 443]
  description = "WebDAV connections to a Microsoft Exchange 2003/2007 CAS server."
}

flow "exchange-web-services" {
  section     = "Microsoft Exchange Server Connections During Application Item Restore"
  from        = ["backup_server"]
  to          = ["exchange_server"]
  protocol    = "tcp"
  ports       = [443]
  description = "Microsoft Exchange Web Services connections to a Microsoft Exchange 2010/2013/2016/2019 CAS server."
}

flow "sql-guest" {
  section     = "Microsoft SQL Server Connections During Application Item Restore"
  from        = ["backup_server"]
  to          = ["sql_guest"]
  protocol    = "tcp"
  ports       = [1433, 1434]
  description = "Communication with the Microsoft SQL Server installed in the VM. The port numbers depend on the SQL Server configuration; others may be needed."
}
