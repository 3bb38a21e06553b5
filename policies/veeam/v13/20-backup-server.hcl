# Page section "Backup Server" (Veeam Backup & Replication 13 "Ports"): incoming
# connections of the backup server, Microsoft Windows or Linux (Veeam Software
# Appliance).

flow "backup-server-https" {
  section     = "Backup Server: PC where web UI is open, remote console, mount server → backup server TCP 443"
  from        = ["web_ui_client", "console", "mount_server"]
  to          = ["backup_server"]
  protocol    = "tcp"
  ports       = [443]
  description = "Port used to communicate with the backup server (web UI, remote Veeam Backup & Replication console, mount server)."
}

flow "backup-server-host-management" {
  section     = "Backup Server: PC where web UI is open → backup server TCP 10443"
  from        = ["web_ui_client"]
  to          = ["linux_backup_server"]
  protocol    = "tcp"
  ports       = [10443]
  description = "Host Management console of Linux-based backup servers deployed from the Veeam Software Appliance ISO."
}

flow "backup-server-ssh" {
  section     = "Backup Server: remote access PC → backup server TCP 22"
  from        = ["rdp_client"]
  to          = ["linux_backup_server"]
  protocol    = "tcp"
  ports       = [22]
  description = "SSH to Linux-based backup servers deployed from the Veeam Software Appliance ISO."
}

flow "backup-server-rdp" {
  section     = "Backup Server: remote access PC → backup server TCP 3389"
  from        = ["rdp_client"]
  to          = ["windows_backup_server"]
  protocol    = "tcp"
  ports       = [3389]
  description = "Default port of Remote Desktop Services to Windows-based backup servers; third-party remote access solutions may need other ports."
}

flow "backup-server-console-update" {
  section     = "Backup Server: Veeam Backup & Replication console → backup server TCP 9420"
  from        = ["console"]
  to          = ["backup_server"]
  protocol    = "tcp"
  ports       = [9420]
  description = "[For console version 12.3.2 P1 (build 12.3.2.4165)] Console automatic update."
}

flow "backup-server-from-proxy" {
  section     = "Backup Server: backup proxy → backup server TCP 6162, 2500 to 3300"
  from        = ["vmware_proxy", "hyperv_host", "offhost_proxy"]
  to          = ["backup_server"]
  protocol    = "tcp"
  ports       = ["6162", local.data_mover_ports]
  description = "Ransomware index transfer. Default port used by Veeam Transport Service (Veeam Data Mover Service on Microsoft Windows); the port range 2500-3300 is used for failover if port 6162 is unavailable."
}

flow "backup-server-from-components" {
  section     = "Backup Server: backup repository, gateway server, mount server → backup server TCP 6162, 2500 to 3300"
  from        = ["backup_repository", "gateway_server", "mount_server"]
  to          = ["backup_server"]
  protocol    = "tcp"
  ports       = ["6162", local.data_mover_ports]
  description = "Default port used by Veeam Transport Service (Veeam Data Mover Service on Microsoft Windows); the port range 2500-3300 is used for failover if port 6162 is unavailable."
}

flow "backup-server-rest-api" {
  section     = "Backup Server: REST client → backup server TCP 9419"
  from        = ["rest_client"]
  to          = ["backup_server"]
  protocol    = "tcp"
  ports       = [9419]
  description = "Default port for communication with the REST API service."
}

flow "backup-server-from-appliance" {
  section     = "Backup Server: Veeam Infrastructure Appliance → backup server TCP 443"
  from        = ["infrastructure_appliance"]
  to          = ["backup_server"]
  protocol    = "tcp"
  ports       = [443]
  description = "Components deployed from the Veeam Infrastructure Appliance ISO authenticate incoming connections from Veeam Backup & Replication."
}
