# Seed section "Linux Server": ports every Linux server needs that is a backup
# infrastructure component or a machine processed with application-aware
# processing (and a Linux server acting as an NFS file share).

flow "linux-ssh" {
  section     = "Linux Server"
  from        = ["backup_server"]
  to          = ["linux_server"]
  protocol    = "tcp"
  ports       = [22]
  description = "Control channel from the console to the target Linux host (SSH)."
}

flow "linux-data-mover" {
  section     = "Linux Server"
  from        = ["backup_server"]
  to          = ["linux_server"]
  protocol    = "tcp"
  ports       = [6162]
  description = "Default port used by the Veeam Data Mover Service. Another port can be specified when the Linux server is added, but only if no Veeam Data Mover was installed on it before."
}

flow "linux-data-transfer" {
  section     = "Linux Server"
  from        = ["backup_server"]
  to          = ["linux_server"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Default range of ports used as data transmission channels; one port of the range is assigned to every TCP connection a job uses."
}

flow "linux-to-backup-server" {
  section     = "Linux Server"
  from        = ["linux_server"]
  to          = ["backup_server"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Default range of ports used as data transmission channels from the Linux server to the backup server; one port of the range is assigned to every TCP connection a job uses."
}
