# Page section "Tape Device Support Components". Deployment rows: 30-deployment.hcl.
# v13 lists no tape server → proxy row (v12 did).

flow "tape-to-backup-server" {
  section     = "Tape Device Support Components: tape server → backup server TCP 6162, 2500 to 3300"
  from        = ["tape_server"]
  to          = ["backup_server"]
  protocol    = "tcp"
  ports       = ["6162", local.data_mover_ports]
  description = "Default port used by Veeam Transport Service (Veeam Data Mover Service on Microsoft Windows); the port range 2500-3300 is used for failover if port 6162 is unavailable."
}

flow "tape-services" {
  section     = "Tape Device Support Components: backup server → tape server TCP 6162, 2500 to 3300, 6166"
  from        = ["backup_server"]
  to          = ["tape_server"]
  protocol    = "tcp"
  ports       = [6166, "6162", local.data_mover_ports]
  description = "Veeam Transport Service (6162, failover 2500-3300) and the controlling port for RPC calls (6166)."
}

flow "tape-to-repository" {
  section     = "Tape Device Support Components: tape server → backup repository / gateway server TCP 6162, 2500 to 3300"
  from        = ["tape_server"]
  to          = ["backup_repository", "gateway_server"]
  protocol    = "tcp"
  ports       = ["6162", local.data_mover_ports]
  description = "Default port used by Veeam Transport Service (Veeam Data Mover Service on Microsoft Windows); the port range 2500-3300 is used for failover if port 6162 is unavailable."
}

flow "tape-to-nfs-share" {
  section     = "Tape Device Support Components: tape server → NFS share TCP, UDP 111, 2049"
  from        = ["tape_server"]
  to          = ["nfs_share", "nfs_file_server"]
  protocol    = ["tcp", "udp"]
  ports       = [111, 2049]
  description = "Standard NFS ports."
}

flow "tape-to-smb-share" {
  section     = "Tape Device Support Components: tape server → SMB share TCP 445"
  from        = ["tape_server"]
  to          = ["smb_share", "smb_file_server"]
  protocol    = "tcp"
  ports       = [445]
  description = "Standard SMB port."
}
