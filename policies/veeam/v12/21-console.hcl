# Seed section "Backup & Replication Console": a remotely installed console.

flow "console-backup-server" {
  section     = "Backup & Replication Console"
  from        = ["console"]
  to          = ["backup_server"]
  protocol    = "tcp"
  ports       = [9392]
  description = "Used by the Veeam Backup & Replication console to connect to the backup server."
}

flow "console-cloud-connect" {
  section     = "Backup & Replication Console"
  from        = ["console"]
  to          = ["backup_server"]
  protocol    = "tcp"
  ports       = [10003]
  when        = var.cloud_connect
  description = "Used by the console to connect to the backup server only when managing Veeam Cloud Connect infrastructure."
}

flow "console-ui-service" {
  section     = "Backup & Replication Console"
  from        = ["console"]
  to          = ["backup_server"]
  protocol    = "tcp"
  ports       = [9396]
  description = "Used by the Veeam.Backup.UIService process to manage database connections."
}

flow "console-mount-server" {
  section     = "Backup & Replication Console"
  from        = ["console"]
  to          = ["mount_server"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Default range of ports used as data transmission channels to the mount server (when the mount server is not on the console machine); one port of the range is assigned to every TCP connection a job uses."
}
