# Roles of the Veeam Backup & Replication 13 pack. Names shared with the v12
# pack mean the same; docs/policy.md lists what is new.

# --- Backup server and its clients ---------------------------------------

role "backup_server" {
  description = "Veeam Backup & Replication backup server: Microsoft Windows, or Linux (the Veeam Software Appliance)"
  os          = ["linux", "windows"]
}

role "ha_backup_server" {
  description = "Backup server that is a node (primary or standby) of a high availability cluster with its PostgreSQL configuration database; assign backup_server too"
  os          = ["linux"]
}

role "console" {
  description = "Machine running a remote Veeam Backup & Replication console"
  os          = ["windows"]
  network     = true
}

role "web_ui_client" {
  description = "PC where the Veeam Backup & Replication web UI (or the Host Management console) is open"
  network     = true
}

role "rest_client" {
  description = "Client of the Veeam Backup & Replication REST API"
  network     = true
}

role "rdp_client" {
  description = "Remote access PC: SSH to a Linux-based backup server, Remote Desktop to a Windows-based one"
  network     = true
}

role "config_database" {
  description = "Server hosting the configuration database: PostgreSQL (default) or Microsoft SQL Server (settings { config_database_engine })"
}

role "veeam_one_server" {
  description = "Veeam ONE server (Analytics view, Veeam ONE Web Services)"
  os          = ["windows"]
}

role "dns_server" {
  description = "DNS server (forward and reverse resolution of all backup and infrastructure servers)"
}

role "ntp_server" {
  description = "NTP or NTS time server used by the Veeam Software Appliance and the Veeam Infrastructure Appliance"
}

role "smtp_server" {
  description = "SMTP server for notifications"
}

role "kms_server" {
  description = "Key Management System (KMIP) server"
}

role "syslog_server" {
  description = "Syslog server"
}

role "domain_controller" {
  description = "Microsoft Active Directory domain controller (authentication, SMB repositories, application item restore)"
  os          = ["windows"]
}

# --- Veeam Infrastructure Appliance ----------------------------------------

role "infrastructure_appliance" {
  description = "Component deployed from the Veeam Infrastructure Appliance ISO (hardened repository, backup proxy, ...): assign it beside the role it plays; its Host Management console (10443) is its remote access"
  os          = ["linux"]
}

# --- VMware vSphere ----------------------------------------------------------

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

role "vcloud_director" {
  description = "VMware Cloud Director: portwarden cannot manage it"
  firewall    = false
  platforms   = ["vsphere"]
}

role "cdp_proxy" {
  description = "CDP proxy (VMware CDP or universal CDP), Microsoft Windows or Linux"
  os          = ["linux", "windows"]
  platforms   = ["vsphere"]
}

role "cdp_workload" {
  description = "Source workload of universal CDP (runs the Veeam CDP Agent Service)"
}

# --- Microsoft Hyper-V ---------------------------------------------------------

role "hyperv_host" {
  description = "Microsoft Hyper-V server; also the on-host backup proxy"
  os          = ["windows"]
  platforms   = ["hyperv"]
}

role "offhost_proxy" {
  description = "Off-host backup proxy of Microsoft Hyper-V (also the off-host file proxy of SMB file share backup)"
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

# --- Backup infrastructure components --------------------------------------------

role "backup_repository" {
  description = "Backup repository on Microsoft Windows or Linux (also a scale-out repository extent)"
  os          = ["linux", "windows"]
}

role "gateway_server" {
  description = "Gateway server of an SMB, NFS, deduplicating or object storage repository"
  os          = ["linux", "windows"]
}

role "mount_server" {
  description = "Mount server (runs the Veeam vPower NFS Service on Microsoft Windows)"
  os          = ["linux", "windows"]
}

role "wan_accelerator" {
  description = "WAN accelerator (source or target)"
  os          = ["windows"]
}

role "tape_server" {
  description = "Tape server (Microsoft Windows or Linux in v13)"
  os          = ["linux", "windows"]
}

role "guest_interaction_proxy" {
  description = "Guest interaction proxy"
  os          = ["linux", "windows"]
}

# --- Processed workloads --------------------------------------------------------

role "guest_windows" {
  description = "Microsoft Windows VM guest OS processed with application-aware processing or indexing"
  os          = ["windows"]
}

role "guest_linux" {
  description = "Linux VM guest OS processed with application-aware processing or indexing"
  os          = ["linux"]
}

role "exchange_server" {
  description = "Microsoft Exchange 2010-2019 CAS server (application item restore)"
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

# --- Shares and storage appliances (no host firewall rule) ------------------------

role "nfs_share" {
  description = "NFS share on a NAS or appliance: cannot carry a host firewall rule"
  firewall    = false
}

role "nfs_file_server" {
  description = "Microsoft Windows or Linux server managed by portwarden that exports an NFS share"
  os          = ["linux", "windows"]
}

role "smb_share" {
  description = "SMB (CIFS) share on a NAS or appliance: cannot carry a host firewall rule"
  firewall    = false
}

role "smb_file_server" {
  description = "Microsoft Windows server managed by portwarden that exports an SMB (CIFS) share"
  os          = ["windows"]
}

role "dedup_appliance" {
  description = "Deduplicating storage appliance of unspecified vendor: gets the notes of every vendor table"
  firewall    = false
}

role "data_domain" {
  description = "Dell Data Domain"
  firewall    = false
}

role "exagrid" {
  description = "ExaGrid (also Fujitsu ETERNUS CS800, Infinidat InfiniGuard: the same table)"
  firewall    = false
}

role "quantum_dxi" {
  description = "Quantum DXi"
  firewall    = false
}

role "hpe_storeonce" {
  description = "HPE StoreOnce"
  firewall    = false
}

# --- Derived roles ------------------------------------------------------------------

role "windows_server" {
  description = "Microsoft Windows backup infrastructure component that the backup server deploys to (the page's \"(Microsoft Windows)\" deployment rows)"
  os          = ["windows"]
  implied_by  = ["vmware_proxy", "gateway_server", "backup_repository", "tape_server", "wan_accelerator"]
}

role "linux_server" {
  description = "Linux backup infrastructure component that the backup server deploys to over SSH (the page's \"(Linux)\" deployment rows)"
  os          = ["linux"]
  implied_by  = ["vmware_proxy", "gateway_server", "backup_repository", "tape_server"]
}

role "linux_backup_server" {
  description = "Linux-based backup server (Veeam Software Appliance)"
  os          = ["linux"]
  implied_by  = ["backup_server"]
}

role "windows_backup_server" {
  description = "Windows-based backup server"
  os          = ["windows"]
  implied_by  = ["backup_server"]
}

role "linux_guest_interaction_proxy" {
  description = "Guest interaction proxy on Linux (added over SSH)"
  os          = ["linux"]
  implied_by  = ["guest_interaction_proxy"]
}
