# Variables and locals of the Veeam Backup & Replication 13 pack. Source: the
# English "Ports" page of the v13 user guide (13.0.2), stored as
# shared/reference/veeam-used-ports-v13.en.md; docs/policy.md says how it was read.
# Every flow's section names the page's section and row.

variable "platforms" {
  description = "Virtualization platforms the site protects: \"hyperv\" (Microsoft Hyper-V) and/or \"vsphere\" (VMware vSphere). Roles of a platform not listed cannot be assigned."
  default     = ["hyperv"]
}

variable "legacy_netbios_ports" {
  description = "Also open TCP 137 and 139 beside 445 for deploying components. The page: \"137 and 139 are legacy ports. If your backup infrastructure components do not use SMB 1.0, they are not required.\""
  default     = false
}

variable "config_database_engine" {
  description = "Engine of the configuration database: \"postgresql\" (TCP 5432, the v13 default) or \"mssql\" (Microsoft SQL Server, TCP 1433)."
  default     = "postgresql"
}

variable "dynamic_rpc" {
  description = "Open the dynamic RPC range 49152-65535 on Hyper-V servers and off-host backup proxies. The page: not needed with default Windows Firewall settings (Veeam creates a rule for the runtime process); a portwarden-managed firewall in enforce mode is not the default, hence true."
  default     = true
}

variable "guest_networkless" {
  description = "Guest processing runs in networkless mode (VMware VIX / vSphere Web Services or PowerShell Direct): the page's non-persistent runtime rows to VM guests are not required."
  default     = false
}

variable "persistent_guest_agent" {
  description = "Jobs use persistent agent components in VM guests (the page's \"Connections for Persistent Agent Components\")."
  default     = false
}

variable "cloud_connect" {
  description = "The site is part of Veeam Cloud Connect with tenants' WAN accelerators (backup server to target WAN accelerator TCP 6220)."
  default     = false
}

variable "nfs_mountd_port" {
  description = "Static port of mountd on NFS v3 backup repositories. null (default): dynamic, not opened."
  default     = null
}

variable "nfs_statd_port" {
  description = "Static port of statd on NFS v3 backup repositories. null (default): dynamic, not opened."
  default     = null
}

variable "nfs_lockd_port" {
  description = "Static port of lockd on NFS v3 backup repositories. null (default): dynamic, not opened."
  default     = null
}

variable "cdp" {
  description = "The site uses VMware CDP (continuous data protection): opens the CDP rows between the backup server, vCenter and ESXi hosts that do not involve a CDP proxy (flows to and from cdp_proxy hosts need no setting)."
  default     = false
}

local "data_mover_ports" {
  value = "2500-3300"
}

local "dynamic_rpc_ports" {
  value = "49152-65535"
}
