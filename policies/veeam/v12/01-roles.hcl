# Roles of the built-in Veeam policy. A role is what a host (or, for client
# roles, a network) plays. Derived roles (implied_by) are assigned by
# portwarden itself. See docs/policy.md for why each role exists.

# --- Backup server and its clients ---------------------------------------

role "backup_server" {
  description = "Veeam Backup & Replication backup server (Microsoft Windows in v12)"
  os          = ["windows"]
}

role "console" {
  description = "Machine running a remote Veeam Backup & Replication console (admin PC)"
  os          = ["windows"]
  network     = true
}

role "rest_client" {
  description = "Client of the Veeam Backup & Replication REST API"
  network     = true
}

role "rdp_client" {
  description = "Management client PC that connects to the backup server by Remote Desktop (remote access)"
  network     = true
}

role "uair_client" {
  description = "Machine running the Veeam U-AIR wizard (connects to Veeam Backup Enterprise Manager)"
  os          = ["windows"]
  network     = true
}

role "config_database" {
  description = "Microsoft SQL Server hosting the Veeam Backup & Replication configuration database"
}

role "enterprise_manager" {
  description = "Veeam Backup Enterprise Manager server"
  os          = ["windows"]
}

role "dns_server" {
  description = "DNS server with forward and reverse name resolution of all backup servers"
}

role "smtp_server" {
  description = "SMTP server the backup server sends notifications through"
}

# --- Virtualization servers --------------------------------------------

role "hyperv_host" {
  description = "Microsoft Hyper-V server; also the on-host backup proxy"
  os          = ["windows"]
  platforms   = ["hyperv"]
}

role "scvmm" {
  description = "Microsoft System Center Virtual Machine Manager (VMM) server"
  os          = ["windows"]
  platforms   = ["hyperv"]
}

role "smb3_server" {
  description = "Microsoft SMB3 server hosting Hyper-V VM disks"
  os          = ["windows"]
  platforms   = ["hyperv"]
}

# --- VMware vSphere (derived from the v13 page's vSphere rows, docs/policy.md) ---

role "vmware_proxy" {
  description = "VMware backup proxy (Microsoft Windows or Linux)"
  os          = ["linux", "windows"]
  platforms   = ["vsphere"]
}

role "esxi_host" {
  description = "VMware ESXi host: an appliance portwarden cannot manage (flows to it are notes on the sources)"
  firewall    = false
  platforms   = ["vsphere"]
}

role "vcenter_server" {
  description = "VMware vCenter Server appliance: portwarden cannot manage it (flows to it are notes on the sources)"
  firewall    = false
  platforms   = ["vsphere"]
}

role "cdp_proxy" {
  description = "CDP proxy of VMware CDP (Microsoft Windows or Linux)"
  os          = ["linux", "windows"]
  platforms   = ["vsphere"]
}

# --- Backup infrastructure components ----------------------------------

role "offhost_proxy" {
  description = "Off-host backup proxy (Microsoft Windows Server with Hyper-V); also the off-host file proxy of SMB file share backup"
  os          = ["windows"]
  platforms   = ["hyperv"]
}

role "backup_repository" {
  description = "Backup repository on a Microsoft Windows or Linux server, including secondary repositories and the cache repository of NAS backup"
  os          = ["linux", "windows"]
}

role "gateway_server" {
  description = "Gateway server of an SMB or NFS repository, a deduplicating appliance, an object storage repository or an NDMP server (assign it to the backup server too when no gateway server is selected)"
  os          = ["linux", "windows"]
}

role "mount_server" {
  description = "Mount server (also runs the Veeam vPower NFS Service)"
  os          = ["windows"]
}

role "wan_accelerator" {
  description = "WAN accelerator (source or target)"
  os          = ["windows"]
}

role "tape_server" {
  description = "Tape server"
  os          = ["windows"]
}

role "guest_interaction_proxy" {
  description = "Guest interaction proxy (deploys runtime components into Windows VM guests)"
  os          = ["windows"]
}

role "helper_host" {
  description = "Linux server used as the helper host of multi-OS file-level restore"
  os          = ["linux"]
}

# --- Processed VM guests and application servers -----------------------

role "guest_windows" {
  description = "Microsoft Windows VM guest OS processed with application-aware processing or indexing"
  os          = ["windows"]
}

role "guest_linux" {
  description = "Linux VM guest OS processed with application-aware processing or indexing, or restored to by multi-OS file-level restore"
  os          = ["linux"]
}

role "domain_controller" {
  description = "Microsoft Active Directory domain controller VM (application item restore)"
  os          = ["windows"]
}

role "exchange_server" {
  description = "Microsoft Exchange 2010/2013/2016/2019 CAS server (application item restore)"
  os          = ["windows"]
}

role "exchange_legacy_cas" {
  description = "Microsoft Exchange 2003/2007 CAS server (application item restore over WebDAV)"
  os          = ["windows"]
}

role "sql_guest" {
  description = "Microsoft SQL Server VM guest OS (application item restore)"
  os          = ["windows"]
}

# --- File shares --------------------------------------------------------

role "nfs_share" {
  description = "NFS share on a NAS or appliance (backup repository or file share): cannot carry a host firewall rule"
  firewall    = false
}

role "nfs_file_server" {
  description = "Microsoft Windows or Linux server managed by portwarden that exports an NFS share (backup repository or file share)"
  os          = ["linux", "windows"]
}

role "smb_share" {
  description = "SMB (CIFS) share on a NAS or appliance (backup repository or file share): cannot carry a host firewall rule"
  firewall    = false
}

role "smb_file_server" {
  description = "Microsoft Windows server managed by portwarden that exports an SMB (CIFS) share (backup repository or file share)"
  os          = ["windows"]
}

# --- Appliances (cannot carry a host firewall rule) ---------------------

role "dedup_appliance" {
  description = "Deduplicating storage appliance of unspecified vendor: gets the notes of every vendor table (use data_domain, exagrid, hpe_storeonce or quantum_dxi for one vendor's ports)"
  firewall    = false
}

role "data_domain" {
  description = "Dell EMC Data Domain deduplicating storage appliance"
  firewall    = false
}

role "exagrid" {
  description = "ExaGrid deduplicating storage appliance"
  firewall    = false
}

role "hpe_storeonce" {
  description = "HPE StoreOnce deduplicating storage appliance"
  firewall    = false
}

role "quantum_dxi" {
  description = "Quantum DXi deduplicating storage appliance"
  firewall    = false
}

role "ndmp_server" {
  description = "NDMP server (NAS filer)"
  firewall    = false
}

role "helper_appliance" {
  description = "Linux helper appliance that Veeam deploys for file-level restore (Linux FLR, multi-OS FLR)"
  os          = ["linux"]
  firewall    = false
}

role "archive_proxy_appliance" {
  description = "Amazon EC2 or Microsoft Azure proxy appliance that Veeam deploys in the cloud for the archive tier"
  os          = ["linux"]
  firewall    = false
}

# --- Derived roles -------------------------------------------------------

role "windows_server" {
  description = "Microsoft Windows server that is a backup infrastructure component, is processed with application-aware processing, or acts as a file share (the seed's generic \"Microsoft Windows Server\" table)"
  os          = ["windows"]
  implied_by = [
    "hyperv_host", "offhost_proxy", "vmware_proxy", "cdp_proxy", "backup_repository", "gateway_server", "mount_server",
    "wan_accelerator", "tape_server", "guest_interaction_proxy", "guest_windows",
    "nfs_file_server", "smb_file_server",
  ]
}

role "windows_infrastructure" {
  description = "Microsoft Windows server that is a backup infrastructure component or acts as a file share: windows_server without the machines that are only processed with application-aware processing (they get the dynamic RPC range only with guest_dynamic_rpc)"
  os          = ["windows"]
  implied_by = [
    "hyperv_host", "offhost_proxy", "vmware_proxy", "cdp_proxy", "backup_repository", "gateway_server", "mount_server",
    "wan_accelerator", "tape_server", "guest_interaction_proxy", "nfs_file_server", "smb_file_server",
  ]
}

role "linux_server" {
  description = "Linux server that is a backup infrastructure component, is processed with application-aware processing, or acts as an NFS file share (the seed's generic \"Linux server\" table)"
  os          = ["linux"]
  implied_by  = ["backup_repository", "gateway_server", "vmware_proxy", "cdp_proxy", "guest_linux", "nfs_file_server", "helper_host"]
}

role "windows_repository" {
  description = "Backup repository on Microsoft Windows (the seed's \"Microsoft Windows Server\" destination of backup proxies)"
  os          = ["windows"]
  implied_by  = ["backup_repository"]
}

role "windows_gateway" {
  description = "Gateway server on Microsoft Windows (dynamic RPC from backup proxies, Windows 2008 and later)"
  os          = ["windows"]
  implied_by  = ["gateway_server"]
}
