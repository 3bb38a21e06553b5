# Seed section "Backup Proxy". A backup proxy on Hyper-V is the Hyper-V server
# itself (on-host) or an off-host backup proxy; the seed writes
# "Hyper-V server/off-host backup proxy" and "backup proxy (on-host or
# off-host)". The off-host backup proxy also gets the "Microsoft Windows
# Server" ports (windows_server).

# --- Communication with the backup server ---

flow "proxy-hyperv-integration" {
  section     = "Backup Proxy"
  from        = ["backup_server"]
  to          = ["offhost_proxy"]
  protocol    = "tcp"
  ports       = [6163]
  description = "Default port used by the Hyper-V Integration Service on the off-host backup proxy."
}

flow "proxy-smb3-integration" {
  section     = "Backup Proxy"
  from        = ["backup_server"]
  to          = ["smb3_server"]
  protocol    = "tcp"
  ports       = [6163]
  description = "Default port used by the Hyper-V Integration Service on the SMB3 server."
}

flow "proxy-file-vss" {
  section     = "Backup Proxy"
  from        = ["backup_server"]
  to          = ["offhost_proxy"]
  protocol    = "tcp"
  ports       = [6210]
  description = "Off-host file proxy: default port used by the Veeam Backup VSS Integration Service to create VSS snapshots when backing up SMB file shares."
}

# --- Communication with backup repositories ---

flow "proxy-windows-repository-rpc" {
  section     = "Backup Proxy"
  from        = ["hyperv_host", "offhost_proxy", "vmware_proxy"]
  to          = ["windows_repository"]
  protocol    = "tcp"
  ports       = [local.dynamic_rpc_ports]
  description = "Dynamic RPC port range (Microsoft Windows 2008 and later) on a Microsoft Windows backup repository."
}

flow "proxy-smb-share" {
  section     = "Backup Proxy"
  from        = ["hyperv_host", "offhost_proxy", "vmware_proxy"]
  to          = ["smb_share", "smb_file_server"]
  protocol    = "tcp"
  ports       = [445]
  description = "Transmission channel from the backup proxy to the target SMB (CIFS) share."
}

flow "proxy-smb-share-rpc" {
  section     = "Backup Proxy"
  from        = ["hyperv_host", "offhost_proxy", "vmware_proxy"]
  to          = ["smb_share", "smb_file_server"]
  protocol    = "tcp"
  ports       = [135]
  when        = var.optional_port_135
  description = "Optional port 135 (faster deployment) beside 445 to the target SMB (CIFS) share."
}

flow "proxy-nfs-share" {
  section     = "Backup Proxy"
  from        = ["hyperv_host", "offhost_proxy", "vmware_proxy"]
  to          = ["nfs_share", "nfs_file_server"]
  protocol    = ["tcp", "udp"]
  ports       = [111, 2049]
  description = "Standard NFS ports used as the transmission channel from the backup proxy to the target NFS share."
}

flow "proxy-windows-gateway-rpc" {
  section     = "Backup Proxy"
  from        = ["hyperv_host", "offhost_proxy", "vmware_proxy"]
  to          = ["windows_gateway"]
  protocol    = ["tcp", "udp"]
  ports       = [local.dynamic_rpc_ports]
  description = "Dynamic RPC port range (Microsoft Windows 2008 and later) on the gateway server."
}

# --- Communication with backup proxies ---

flow "hyperv-to-proxy" {
  section     = "Backup Proxy"
  from        = ["hyperv_host"]
  to          = ["hyperv_host", "offhost_proxy"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Default range of ports used as transmission channels for replication jobs, from the Hyper-V server to the backup proxy (on-host or off-host); one port of the range is assigned to every TCP connection a job uses."
}

flow "smb3-to-proxy" {
  section     = "Backup Proxy"
  from        = ["smb3_server"]
  to          = ["hyperv_host", "offhost_proxy"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Used to retrieve CBT information from the Microsoft SMB3 server that manages the shares hosting VM disks, to the backup proxy (on-host or off-host)."
}
