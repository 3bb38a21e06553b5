# Page section "Gateway Servers". Deployment rows: 30-deployment.hcl.

flow "gateway-data-mover" {
  section     = "Gateway Servers: backup server, backup proxy, Hyper-V server/off-host backup proxy, VM guest OS → gateway server TCP 6162, 2500 to 3300"
  from        = ["backup_server", "vmware_proxy", "hyperv_host", "offhost_proxy", "guest_windows", "guest_linux"]
  to          = ["gateway_server"]
  protocol    = "tcp"
  ports       = ["6162", local.data_mover_ports]
  description = "Default port used by Veeam Transport Service (Veeam Data Mover Service on Microsoft Windows); the port range 2500-3300 is used for failover if port 6162 is unavailable."
}

flow "gateway-vpower-nfs" {
  section     = "Gateway Servers: mount server running vPower NFS Service → gateway server working with backup repository TCP 6162, 2500 to 3300"
  from        = ["mount_server"]
  to          = ["gateway_server"]
  protocol    = "tcp"
  ports       = ["6162", local.data_mover_ports]
  description = "Instant Recovery, SureBackup or Linux file-level recovery. Default port used by Veeam Transport Service (Veeam Data Mover Service on Microsoft Windows); the port range 2500-3300 is used for failover if port 6162 is unavailable."
}

flow "gateway-data-cloud-vault" {
  section     = "Gateway Servers: on-premises backup repository, gateway server → gateway server for Veeam Data Cloud Vault TCP 6162, 2500 to 3300"
  from        = ["backup_repository", "gateway_server"]
  to          = ["gateway_server"]
  protocol    = "tcp"
  ports       = ["6162", local.data_mover_ports]
  description = "Default port used by Veeam Transport Service (Veeam Data Mover Service on Microsoft Windows); the port range 2500-3300 is used for failover if port 6162 is unavailable."
}
