# Seed section "Gateway Server". The rows "backup server -> gateway server on
# Windows / on Linux (when set explicitly in NFS repository settings): open
# the ports of Microsoft Windows Server / Linux server" are covered by
# windows_server and linux_server.

flow "gateway-smb-share" {
  section     = "Gateway Server"
  from        = ["gateway_server"]
  to          = ["smb_share", "smb_file_server"]
  protocol    = "tcp"
  ports       = [445]
  description = "Transmission channel from the gateway server (set explicitly in the SMB (CIFS) repository settings) to the target SMB (CIFS) share."
}

flow "gateway-smb-share-rpc" {
  section     = "Gateway Server"
  from        = ["gateway_server"]
  to          = ["smb_share", "smb_file_server"]
  protocol    = "tcp"
  ports       = [135]
  when        = var.optional_port_135
  description = "Optional port 135 (faster deployment) beside 445 from the gateway server to the target SMB (CIFS) share."
}

flow "gateway-nfs-share" {
  section     = "Gateway Server"
  from        = ["gateway_server"]
  to          = ["nfs_share", "nfs_file_server"]
  protocol    = ["tcp", "udp"]
  ports       = [111, 2049]
  description = "Standard NFS ports used as the transmission channel from the gateway server (set explicitly in the repository settings) to the target NFS share."
}
