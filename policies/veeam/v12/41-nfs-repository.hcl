# Seed section "NFS Backup Repository": NFS shares added as backup
# repositories (or file shares). nfs_share is a NAS/appliance (notes);
# nfs_file_server is a managed Windows or Linux server (rules). The rows
# "gateway server on Windows/Linux -> NFS share: open the ports of Microsoft
# Windows Server / Linux server" are covered by windows_server/linux_server.

flow "nfs-repository-nfs" {
  section     = "NFS Backup Repository"
  from        = ["gateway_server"]
  to          = ["nfs_share", "nfs_file_server"]
  protocol    = ["tcp", "udp"]
  ports       = [2049]
  description = "Default NFS port, from the gateway server (Microsoft Windows or Linux)."
}

flow "nfs-repository-rpcbind" {
  section     = "NFS Backup Repository"
  from        = ["gateway_server"]
  to          = ["nfs_share", "nfs_file_server"]
  protocol    = ["tcp", "udp"]
  ports       = [111]
  description = "Port used by the rpcbind service, from the gateway server (Microsoft Windows or Linux)."
}

flow "nfs-repository-mountd" {
  section     = "NFS Backup Repository"
  from        = ["gateway_server"]
  to          = ["nfs_share", "nfs_file_server"]
  protocol    = ["tcp", "udp"]
  ports       = [var.nfs_mountd_port]
  when        = var.nfs_mountd_port != null
  description = "NFS v3 repositories: port of the mountd service (dynamic; can be assigned statically)."
}

flow "nfs-repository-statd" {
  section     = "NFS Backup Repository"
  from        = ["gateway_server"]
  to          = ["nfs_share", "nfs_file_server"]
  protocol    = ["tcp", "udp"]
  ports       = [var.nfs_statd_port]
  when        = var.nfs_statd_port != null
  description = "NFS v3 repositories: port of the statd service (dynamic; can be assigned statically)."
}

flow "nfs-repository-lockd-tcp" {
  section     = "NFS Backup Repository"
  from        = ["gateway_server"]
  to          = ["nfs_share", "nfs_file_server"]
  protocol    = "tcp"
  ports       = [var.nfs_lockd_port]
  when        = var.nfs_lockd_port != null
  description = "NFS v3 repositories: TCP port of the lockd service (dynamic; can be assigned statically)."
}

flow "nfs-repository-lockd-udp" {
  section     = "NFS Backup Repository"
  from        = ["gateway_server"]
  to          = ["nfs_share", "nfs_file_server"]
  protocol    = "udp"
  ports       = [var.nfs_lockd_port]
  when        = var.nfs_lockd_port != null
  description = "NFS v3 repositories: UDP port of the lockd service (dynamic; can be assigned statically)."
}

flow "nfs-repository-transmission" {
  section     = "NFS Backup Repository"
  from        = ["gateway_server", "hyperv_host", "offhost_proxy", "vmware_proxy"]
  to          = ["nfs_share", "nfs_file_server"]
  protocol    = ["tcp", "udp"]
  ports       = [111, 2049]
  description = "Standard NFS ports used as the transmission channel from the gateway server or backup proxy specified in the NFS repository settings to the target NFS share."
}
