# Seed section "Backup Repository: Microsoft Windows/Linux Backup Repository".
# A cache repository of NAS backup uses the same ports as a backup repository
# (it is a backup repository selected as cache). The rows "Hyper-V
# server/off-host backup proxy -> repository on Windows/Linux: open the ports
# of Microsoft Windows Server / Linux server" are covered by windows_server
# and linux_server.

flow "repository-from-proxy" {
  section     = "Microsoft Windows/Linux Backup Repository"
  from        = ["hyperv_host", "offhost_proxy", "vmware_proxy"]
  to          = ["backup_repository", "gateway_server"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Default range of ports used as transmission channels from the backup proxy to the backup repository, or to the gateway server that is the data mover of an SMB, NFS, deduplicating or object storage repository; one port of the range is assigned to every TCP connection a job uses."
}

flow "repository-backup-copy" {
  section     = "Microsoft Windows/Linux Backup Repository"
  from        = ["backup_repository"]
  to          = ["backup_repository"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Transmission channels of backup copy jobs from the source to the target backup repository, for backup copy jobs that do not use WAN accelerators (with WAN accelerators, the WAN accelerator ports apply)."
}

flow "repository-to-object-storage" {
  section     = "Microsoft Windows/Linux Backup Repository"
  from        = ["backup_repository"]
  to          = ["gateway_server"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Transmission channels from the source backup repository to the object storage repository (its gateway server runs the data mover)."
}

flow "repository-to-cache-repository" {
  section     = "Microsoft Windows/Linux Backup Repository"
  from        = ["backup_repository"]
  to          = ["backup_repository"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Transmission channels from the backup repository or secondary backup repository to the cache repository of NAS backup."
}

flow "vpower-nfs-to-repository" {
  section     = "Microsoft Windows/Linux Backup Repository"
  from        = ["mount_server"]
  to          = ["backup_repository", "gateway_server"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Transmission channels from the Microsoft Windows server running the vPower NFS Service (the mount server) to the backup repository or the gateway server working with it, during Instant Recovery to VMware vSphere VMs."
}
