# Page section "Mount Servers", with the vPower NFS rows.

flow "mount-from-console" {
  section     = "Mount Servers: Veeam Backup & Replication console → mount server TCP 6162, 2500 to 3300"
  from        = ["console"]
  to          = ["mount_server"]
  protocol    = "tcp"
  ports       = ["6162", local.data_mover_ports]
  description = "[Remote console only] Guest OS file-level restore, when the mount server is not on the console. Default port used by Veeam Transport Service (Veeam Data Mover Service on Microsoft Windows); the port range 2500-3300 is used for failover if port 6162 is unavailable."
}

flow "mount-deploy" {
  section     = "Mount Servers: backup server → mount server TCP 445"
  from        = ["backup_server"]
  to          = ["mount_server"]
  protocol    = "tcp"
  ports       = [445]
  description = "Deploying components (not required with the Veeam Deployment Kit)."
}

flow "mount-data-mover" {
  section     = "Mount Servers: backup server → mount server TCP 6162, 2500 to 3300"
  from        = ["backup_server"]
  to          = ["mount_server"]
  protocol    = "tcp"
  ports       = ["6162", local.data_mover_ports]
  description = "Default port used by Veeam Transport Service (Veeam Data Mover Service on Microsoft Windows); the port range 2500-3300 is used for failover if port 6162 is unavailable."
}

flow "mount-service" {
  section     = "Mount Servers: backup server → mount server TCP 6170"
  from        = ["backup_server"]
  to          = ["mount_server"]
  protocol    = "tcp"
  ports       = [6170]
  description = "Local or remote Mount Service."
}

flow "vpower-nfs-service" {
  section     = "Mount Servers: backup server → mount server running vPower NFS Service TCP 6161"
  from        = ["backup_server"]
  to          = ["mount_server"]
  protocol    = "tcp"
  ports       = [6161]
  when        = contains(var.platforms, "vsphere")
  description = "Veeam vPower NFS Service (VMware vSphere only: Instant Recovery and SureBackup of VMware VMs)."
}

flow "vpower-nfs-from-esxi" {
  section     = "Mount Servers: ESXi host → mount server running vPower NFS Service TCP UDP 111, 1058+ or 1063+, 2049+"
  from        = ["esxi_host"]
  to          = ["mount_server"]
  protocol    = ["tcp", "udp"]
  ports       = [111, 1058, 1063, 2049]
  description = "Port mapper (111), vPower NFS mount port (1058 when the service runs on the backup server, 1063 on a separate Windows machine; portwarden opens both) and NFS (2049). If a port is occupied the succeeding ones are used: not opened."
}

flow "vpower-nfs-from-repository" {
  section     = "Mount Servers: backup repository or gateway server working with backup repository → mount server running vPower NFS Service TCP 6162, 2500 to 3300"
  from        = ["backup_repository", "gateway_server"]
  to          = ["mount_server"]
  protocol    = "tcp"
  ports       = ["6162", local.data_mover_ports]
  description = "Instant Recovery, SureBackup or Linux file-level recovery. Default port used by Veeam Transport Service (Veeam Data Mover Service on Microsoft Windows); the port range 2500-3300 is used for failover if port 6162 is unavailable."
}
