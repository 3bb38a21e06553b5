# Page section "Backup Repositories". Deployment rows: 30-deployment.hcl.

flow "repository-vpower-nfs" {
  section     = "Backup Repositories: Common Ports: mount server running vPower NFS Service → backup repository TCP 6162, 2500 to 3300"
  from        = ["mount_server"]
  to          = ["backup_repository"]
  protocol    = "tcp"
  ports       = ["6162", local.data_mover_ports]
  description = "Instant Recovery, SureBackup or Linux file-level recovery. Default port used by Veeam Transport Service (Veeam Data Mover Service on Microsoft Windows); the port range 2500-3300 is used for failover if port 6162 is unavailable."
}

flow "repository-data-mover" {
  section     = "Backup Repositories: Common Ports: Veeam Backup & Replication console, backup proxy, Hyper-V server/off-host backup proxy → backup repository TCP 6162, 2500 to 3300"
  from        = ["console", "vmware_proxy", "hyperv_host", "offhost_proxy"]
  to          = ["backup_repository"]
  protocol    = "tcp"
  ports       = ["6162", local.data_mover_ports]
  description = "Default port used by Veeam Transport Service (Veeam Data Mover Service on Microsoft Windows); the port range 2500-3300 is used for failover if port 6162 is unavailable."
}

flow "repository-from-backup-server" {
  section     = "Backup Repositories: Common Ports (reading): backup server → backup repository TCP 6162, 2500 to 3300"
  from        = ["backup_server"]
  to          = ["backup_repository"]
  protocol    = "tcp"
  ports       = ["6162", local.data_mover_ports]
  description = "The backup server talks to the repository's transport service (rescan, its default mount server and gateway role); the page lists it only as mount server, docs/policy.md. Default port used by Veeam Transport Service (Veeam Data Mover Service on Microsoft Windows); the port range 2500-3300 is used for failover if port 6162 is unavailable."
}

flow "repository-copy" {
  section     = "Backup Repositories: Microsoft Windows/Linux-Based Backup Repositories: source backup repository → target backup repository TCP 6162, 2500 to 3300"
  from        = ["backup_repository"]
  to          = ["backup_repository"]
  protocol    = "tcp"
  ports       = ["6162", local.data_mover_ports]
  description = "Backup copy jobs without WAN accelerators. Default port used by Veeam Transport Service (Veeam Data Mover Service on Microsoft Windows); the port range 2500-3300 is used for failover if port 6162 is unavailable."
}

flow "sobr-extents" {
  section     = "Backup Repositories: Scale-Out Backup Repositories: source extent ↔ target extent TCP 6162, 2500 to 3300"
  from        = ["backup_repository"]
  to          = ["backup_repository"]
  protocol    = "tcp"
  ports       = ["6162", local.data_mover_ports]
  description = "Between the extents of a scale-out backup repository. Default port used by Veeam Transport Service (Veeam Data Mover Service on Microsoft Windows); the port range 2500-3300 is used for failover if port 6162 is unavailable."
}

flow "nfs-repository" {
  section     = "Backup Repositories: NFS Backup Repositories: gateway server or backup proxy → NFS backup repository TCP, UDP 111, 2049"
  from        = ["gateway_server", "vmware_proxy", "hyperv_host", "offhost_proxy"]
  to          = ["nfs_share", "nfs_file_server"]
  protocol    = ["tcp", "udp"]
  ports       = [111, 2049]
  description = "Standard NFS ports (111: port mapper); also the transmission channel from an explicitly specified gateway server."
}

flow "nfs-repository-mountd" {
  section     = "Backup Repositories: NFS Backup Repositories: → NFS backup repository (NFS v3) TCP, UDP mountd_port"
  from        = ["gateway_server", "vmware_proxy", "hyperv_host", "offhost_proxy"]
  to          = ["nfs_share", "nfs_file_server"]
  protocol    = ["tcp", "udp"]
  ports       = [var.nfs_mountd_port]
  when        = var.nfs_mountd_port != null
  description = "NFS v3: mountd (dynamic; can be assigned statically)."
}

flow "nfs-repository-statd" {
  section     = "Backup Repositories: NFS Backup Repositories: → NFS backup repository (NFS v3) TCP, UDP statd_port"
  from        = ["gateway_server", "vmware_proxy", "hyperv_host", "offhost_proxy"]
  to          = ["nfs_share", "nfs_file_server"]
  protocol    = ["tcp", "udp"]
  ports       = [var.nfs_statd_port]
  when        = var.nfs_statd_port != null
  description = "NFS v3: statd (dynamic; can be assigned statically)."
}

flow "nfs-repository-lockd" {
  section     = "Backup Repositories: NFS Backup Repositories: → NFS backup repository (NFS v3) TCP, UDP lockd_port"
  from        = ["gateway_server", "vmware_proxy", "hyperv_host", "offhost_proxy"]
  to          = ["nfs_share", "nfs_file_server"]
  protocol    = ["tcp", "udp"]
  ports       = [var.nfs_lockd_port]
  when        = var.nfs_lockd_port != null
  description = "NFS v3: lockd (dynamic; can be assigned statically)."
}

flow "smb-repository" {
  section     = "Backup Repositories: SMB Backup Repositories: gateway server or backup proxy → SMB (CIFS) backup repository TCP 445"
  from        = ["gateway_server", "vmware_proxy", "hyperv_host", "offhost_proxy"]
  to          = ["smb_share", "smb_file_server"]
  protocol    = "tcp"
  ports       = [445]
  description = "Transmission channel to the target SMB (CIFS) share."
}

flow "data-domain" {
  section     = "Backup Repositories: Dell Data Domain System: backup server, gateway server → Dell Data Domain TCP 111, 2049, 2052"
  from        = ["backup_server", "gateway_server"]
  to          = ["data_domain", "dedup_appliance"]
  protocol    = "tcp"
  ports       = [111, 2049, 2052]
  description = "Dell Data Domain: 111 (mountd port assignment for NFS and DD Boost), 2049 (NFS), 2052 (NFS MOUNTD)."
}

flow "dedup-transport" {
  section     = "Backup Repositories: ExaGrid, Quantum DXi, Fujitsu ETERNUS CS800, Infinidat InfiniGuard: backup server → deduplicating appliance TCP 22, 6160, 6162, 2500 to 3300"
  from        = ["backup_server"]
  to          = ["exagrid", "quantum_dxi", "dedup_appliance"]
  protocol    = "tcp"
  ports       = [22, 6160, 6162, local.data_mover_ports]
  description = "Command port (22), Veeam Installer Service (6160) and Veeam Data Mover Service (6162, failover 2500-3300) on the appliance."
}

flow "storeonce" {
  section     = "Backup Repositories: HPE StoreOnce: backup server or gateway server → HPE StoreOnce TCP 9387, 9388"
  from        = ["backup_server", "gateway_server"]
  to          = ["hpe_storeonce", "dedup_appliance"]
  protocol    = "tcp"
  ports       = [9387, 9388]
  description = "HPE StoreOnce command (9387) and data (9388) ports."
}
