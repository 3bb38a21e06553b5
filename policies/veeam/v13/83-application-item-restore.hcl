# Page section "Application Item Restore".

flow "ad-item-restore" {
  section     = "Application Item Restore: Microsoft Active Directory Domain Controller: backup server → Active Directory VM guest OS TCP 135, 389, 636, 3268, 3269"
  from        = ["backup_server"]
  to          = ["domain_controller"]
  protocol    = "tcp"
  ports       = [135, 389, 636, 3268, 3269]
  description = "RPC (135) and LDAP connections."
}

flow "ad-item-restore-udp" {
  section     = "Application Item Restore: Microsoft Active Directory Domain Controller: backup server → Active Directory VM guest OS UDP 389"
  from        = ["backup_server"]
  to          = ["domain_controller"]
  protocol    = "udp"
  ports       = [389]
  description = "LDAP connections."
}

flow "exchange-legacy-webdav" {
  section     = "Application Item Restore: Microsoft Exchange Server: backup server → Exchange 2003/2007 CAS TCP 80, 443"
  from        = ["backup_server"]
  to          = ["exchange_legacy_cas"]
  protocol    = "tcp"
  ports       = [80, 443]
  description = "WebDAV connections."
}

flow "exchange-web-services" {
  section     = "Application Item Restore: Microsoft Exchange Server: backup server → Exchange 2010-2019 CAS TCP 443"
  from        = ["backup_server"]
  to          = ["exchange_server"]
  protocol    = "tcp"
  ports       = [443]
  description = "Exchange Web Services connections."
}

flow "sql-item-restore" {
  section     = "Application Item Restore: Microsoft SQL Server: backup server → Microsoft SQL VM guest OS TCP 1433, 1434 and other"
  from        = ["backup_server"]
  to          = ["sql_guest"]
  protocol    = "tcp"
  ports       = [1433, 1434]
  description = "Microsoft SQL Server in the VM; other ports depend on its configuration."
}

flow "sql-browser" {
  section     = "Application Item Restore: Microsoft SQL Server: backup server → Microsoft SQL VM guest OS UDP 1434"
  from        = ["backup_server"]
  to          = ["sql_guest"]
  protocol    = "udp"
  ports       = [1434]
  description = "Microsoft SQL Server Browser service."
}
