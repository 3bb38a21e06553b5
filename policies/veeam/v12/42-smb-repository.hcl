# Seed section "SMB Backup Repository": SMB (CIFS) shares added as backup
# repositories. smb_share is a NAS/appliance (notes); smb_file_server is a
# managed Windows server (rules). The row "gateway server on Windows -> SMB
# share: open the ports of Microsoft Windows Server" is covered by
# windows_server.

flow "smb-repository" {
  section     = "SMB Backup Repository"
  from        = ["gateway_server"]
  to          = ["smb_share", "smb_file_server"]
  protocol    = "tcp"
  ports       = [445]
  description = "Transmission channel from the gateway server (Microsoft Windows or Linux) to the target SMB (CIFS) share."
}

flow "smb-repository-rpc" {
  section     = "SMB Backup Repository"
  from        = ["gateway_server"]
  to          = ["smb_share", "smb_file_server"]
  protocol    = "tcp"
  ports       = [135]
  when        = var.optional_port_135
  description = "Optional port 135 (faster deployment) beside 445 from the gateway server to the target SMB (CIFS) share."
}
