# Page section "Databases and External Services": configuration database, mail,
# time, DNS, CRL, KMS, syslog, Active Directory.

flow "config-db-postgresql" {
  section     = "Databases and External Services: backup server → PostgreSQL configuration database TCP 5432; High Availability (HA) Cluster Components: backup server (primary or standby) → PostgreSQL configuration database TCP 5432"
  from        = ["backup_server"]
  to          = ["config_database"]
  protocol    = "tcp"
  ports       = [5432]
  when        = var.config_database_engine == "postgresql"
  description = "PostgreSQL configuration database (from the primary backup server, and from the standby one in an HA cluster)."
}

flow "config-db-mssql" {
  section     = "Databases and External Services: backup server → Microsoft SQL Server hosting the configuration database TCP 1433"
  from        = ["backup_server"]
  to          = ["config_database"]
  protocol    = "tcp"
  ports       = [1433]
  when        = var.config_database_engine == "mssql"
  description = "Microsoft SQL Server default instance hosting the configuration database; other ports may be needed depending on the configuration."
}

flow "smtp" {
  section     = "Databases and External Services: backup server → SMTP server TCP 25, 587"
  from        = ["backup_server"]
  to          = ["smtp_server"]
  protocol    = "tcp"
  ports       = [25, 587]
  description = "SMTP server (587 if SSL is enabled)."
}

flow "gmail-api" {
  section     = "Databases and External Services: backup server → Gmail REST API TCP 443"
  from        = ["backup_server"]
  endpoint    = "gmail.googleapis.com"
  protocol    = "tcp"
  ports       = [443]
  description = "Google Mail services (authentication also needs accounts.google.com and gstatic.com)."
}

flow "graph-api" {
  section     = "Databases and External Services: backup server → Microsoft Graph REST API TCP 443"
  from        = ["backup_server"]
  endpoint    = "graph.microsoft.com, login.microsoftonline.com"
  protocol    = "tcp"
  ports       = [443]
  description = "Microsoft Exchange Online organizations."
}

flow "ntp" {
  section     = "Databases and External Services: backup server, Veeam Infrastructure Appliance → NTP server / NTS server UDP 123"
  from        = ["backup_server", "infrastructure_appliance"]
  to          = ["ntp_server"]
  protocol    = "udp"
  ports       = [123]
  description = "Time synchronization with NTP or NTS time servers (Veeam Software Appliance and Veeam Infrastructure Appliance)."
}

flow "nts-key-exchange" {
  section     = "Databases and External Services: backup server, Veeam Infrastructure Appliance → NTS server TCP 4460"
  from        = ["backup_server", "infrastructure_appliance"]
  to          = ["ntp_server"]
  protocol    = "tcp"
  ports       = [4460]
  description = "NTS key establishment with NTS time servers."
}

flow "dns" {
  section     = "Databases and External Services: any backup infrastructure component → DNS server UDP, TCP 53"
  from        = ["backup_server", "infrastructure_appliance", "vmware_proxy", "hyperv_host", "offhost_proxy", "backup_repository", "gateway_server", "mount_server", "wan_accelerator", "tape_server", "guest_interaction_proxy", "cdp_proxy"]
  to          = ["dns_server"]
  protocol    = ["tcp", "udp"]
  ports       = [53]
  description = "Forward and reverse name resolution of all backup and infrastructure servers, including Active Directory domain controllers."
}

flow "crl" {
  section     = "Databases and External Services: backup server → Certificate Revocation Lists TCP 80 or 443"
  from        = ["backup_server"]
  endpoint    = "CRL distribution points of your certificate authority"
  protocol    = "tcp"
  ports       = [80, 443]
  description = "CRLs of the CA that issued the certificate of each backup infrastructure component (see the certificate)."
}

flow "kms" {
  section     = "Databases and External Services: backup server → KMS server TCP 5696"
  from        = ["backup_server"]
  to          = ["kms_server"]
  protocol    = "tcp"
  ports       = [5696]
  description = "Key Management System server."
}

flow "syslog" {
  section     = "Databases and External Services: backup server → Syslog server TCP, UDP 514"
  from        = ["backup_server"]
  to          = ["syslog_server"]
  protocol    = ["tcp", "udp"]
  ports       = [514]
  description = "Syslog server."
}

flow "syslog-tls" {
  section     = "Databases and External Services: backup server → Syslog server TCP 6514"
  from        = ["backup_server"]
  to          = ["syslog_server"]
  protocol    = "tcp"
  ports       = [6514]
  description = "Syslog server over TLS."
}

flow "ad-ldap-auth" {
  section     = "Databases and External Services: backup server, Veeam Infrastructure Appliance → Active Directory domain controllers TCP 636, 3268, 3269; UDP, TCP 389"
  from        = ["backup_server", "infrastructure_appliance"]
  to          = ["domain_controller"]
  protocol    = "tcp"
  ports       = [389, 636, 3268, 3269]
  description = "LDAP and LDAPS."
}

flow "ad-ldap-auth-udp" {
  section     = "Databases and External Services: backup server, Veeam Infrastructure Appliance → Active Directory domain controllers UDP, TCP 389"
  from        = ["backup_server", "infrastructure_appliance"]
  to          = ["domain_controller"]
  protocol    = "udp"
  ports       = [389]
  description = "LDAP."
}

flow "ad-smb-kerberos" {
  section     = "Databases and External Services: backup server, Veeam Infrastructure Appliance → Active Directory domain controllers UDP, TCP 445, 139, 88"
  from        = ["backup_server", "infrastructure_appliance"]
  to          = ["domain_controller"]
  protocol    = ["tcp", "udp"]
  ports       = [88, 139, 445]
  description = "SMB (445, 139) and Kerberos authentication (88)."
}

flow "ad-smb-repository" {
  section     = "Databases and External Services: gateway server or backup proxy → Active Directory domain controllers TCP 389, 88 (communication for SMB (CIFS) repositories)"
  from        = ["gateway_server", "vmware_proxy", "hyperv_host", "offhost_proxy"]
  to          = ["domain_controller"]
  protocol    = "tcp"
  ports       = [88, 389]
  description = "LDAP and Kerberos authentication for SMB (CIFS) repositories."
}
