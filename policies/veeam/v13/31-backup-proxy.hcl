# Page section "Backup Proxies". A backup proxy is a VMware backup proxy
# (vmware_proxy) or, on Hyper-V, the Hyper-V server (on-host) or an off-host
# backup proxy. Deployment rows: 30-deployment.hcl.

flow "proxy-data-mover" {
  section     = "Backup Proxies: backup server, backup proxy, Microsoft Windows/Linux-based backup repository, mount server → backup proxy TCP 6162, 2500 to 3300"
  from        = ["backup_server", "vmware_proxy", "hyperv_host", "offhost_proxy", "backup_repository", "mount_server"]
  to          = ["vmware_proxy", "hyperv_host", "offhost_proxy"]
  protocol    = "tcp"
  ports       = ["6162", local.data_mover_ports]
  description = "Default port used by Veeam Transport Service (Veeam Data Mover Service on Microsoft Windows); the port range 2500-3300 is used for failover if port 6162 is unavailable."
}

flow "proxy-direct-object-storage" {
  section     = "Backup Proxies: on-premises backup repository, gateway server → backup proxy (direct connection) TCP 6162, 2500 to 3300"
  from        = ["backup_repository", "gateway_server"]
  to          = ["vmware_proxy", "hyperv_host", "offhost_proxy"]
  protocol    = "tcp"
  ports       = ["6162", local.data_mover_ports]
  description = "Veeam Data Cloud Vault, object storage and external repositories with a direct connection. Default port used by Veeam Transport Service (Veeam Data Mover Service on Microsoft Windows); the port range 2500-3300 is used for failover if port 6162 is unavailable."
}
