# Seed section "Backup Server": ports between the backup server and the
# virtualization servers, other servers, its own local services and its
# clients (remote access, REST API).

# --- Virtualization servers: SCVMM ---

flow "backup-server-scvmm-wcf" {
  section     = "Backup Server"
  from        = ["backup_server"]
  to          = ["scvmm"]
  protocol    = "tcp"
  ports       = [8100]
  description = "WCF: default port from the VMM administrator console (on the backup server) to the VMM server, required by Veeam Backup Management."
}

flow "backup-server-scvmm-control" {
  section     = "Backup Server"
  from        = ["backup_server"]
  to          = ["scvmm"]
  protocol    = "tcp"
  ports       = [8732]
  description = "Control channel to the SCVMM server."
}

# --- Virtualization servers: Microsoft Hyper-V server ---

flow "backup-server-hyperv-deploy" {
  section     = "Backup Server"
  from        = ["backup_server"]
  to          = ["hyperv_host"]
  protocol    = "tcp"
  ports       = [445]
  description = "Required for deploying Veeam Backup & Replication components."
}

flow "backup-server-hyperv-deploy-rpc" {
  section     = "Backup Server"
  from        = ["backup_server"]
  to          = ["hyperv_host"]
  protocol    = "tcp"
  ports       = [135]
  when        = var.optional_port_135
  description = "Optional port 135 for faster deployment of Veeam Backup & Replication components."
}

flow "backup-server-hyperv-installer" {
  section     = "Backup Server"
  from        = ["backup_server"]
  to          = ["hyperv_host"]
  protocol    = "tcp"
  ports       = [6160]
  description = "Default port used by the Veeam Installer Service."
}

flow "backup-server-hyperv-data-mover" {
  section     = "Backup Server"
  from        = ["backup_server"]
  to          = ["hyperv_host"]
  protocol    = "tcp"
  ports       = [6162]
  description = "Default port used by the Veeam Data Mover Service."
}

flow "backup-server-hyperv-integration" {
  section     = "Backup Server"
  from        = ["backup_server"]
  to          = ["hyperv_host"]
  protocol    = "tcp"
  ports       = [6163]
  description = "Default port used to communicate with the Veeam Hyper-V Integration Service."
}

flow "backup-server-hyperv-data-transfer" {
  section     = "Backup Server"
  from        = ["backup_server"]
  to          = ["hyperv_host"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Default range of ports used as transmission channels for jobs; one port of the range is assigned to every TCP connection a job uses."
}

flow "backup-server-hyperv-dynamic-rpc" {
  section     = "Backup Server"
  from        = ["backup_server"]
  to          = ["hyperv_host"]
  protocol    = "tcp"
  ports       = [local.dynamic_rpc_ports]
  description = "Dynamic RPC port range (Microsoft Windows 2008 and later)."
}

# --- Other servers ---

flow "backup-server-config-db" {
  section     = "Backup Server"
  from        = ["backup_server"]
  to          = ["config_database"]
  protocol    = "tcp"
  ports       = [1433]
  description = "Communication with the Microsoft SQL Server hosting the Veeam Backup & Replication configuration database (default instance). Other ports may be needed depending on the SQL Server configuration."
}

flow "backup-server-dns" {
  section     = "Backup Server"
  from        = ["backup_server"]
  to          = ["dns_server"]
  protocol    = "udp"
  ports       = [53]
  description = "Communication with the DNS server (forward and reverse name resolution of all backup servers)."
}

flow "backup-server-update-notification" {
  section     = "Backup Server"
  from        = ["backup_server"]
  endpoint    = "dev.veeam.com"
  protocol    = "tcp"
  ports       = [443]
  description = "HTTPS: default port to download information about available updates from the Veeam Update Notification Server over the Internet."
}

flow "backup-server-license-update" {
  section     = "Backup Server"
  from        = ["backup_server"]
  endpoint    = "vbr.butler.veeam.com, autolk.veeam.com"
  protocol    = "tcp"
  ports       = [443]
  description = "Default port for automatic license update from the Veeam License Update Server."
}

# --- Local services of the backup server ---

flow "backup-server-broker" {
  section     = "Backup Server"
  from        = ["backup_server"]
  to          = ["backup_server"]
  local       = true
  protocol    = "tcp"
  ports       = [9501]
  description = "Used locally on the backup server for communication between the Veeam Broker Service and Veeam services and components."
}

flow "backup-server-db-rest" {
  section     = "Backup Server"
  from        = ["backup_server"]
  to          = ["backup_server"]
  local       = true
  protocol    = "tcp"
  ports       = [6172]
  description = "Used locally on the backup server to provide REST access to the Veeam Backup & Replication database."
}

# --- Remote access and REST API ---

flow "backup-server-rdp" {
  section     = "Backup Server"
  from        = ["rdp_client"]
  to          = ["backup_server"]
  protocol    = "tcp"
  ports       = [3389]
  description = "Remote access: default port of Remote Desktop Services. Third-party remote access solutions may need other ports."
}

flow "backup-server-rest-api" {
  section     = "Backup Server"
  from        = ["rest_client"]
  to          = ["backup_server"]
  protocol    = "tcp"
  ports       = [9419]
  description = "Default port for communication with the REST API service."
}
