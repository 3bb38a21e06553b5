# Variables and locals of the built-in Veeam Backup & Replication policy.
# Source: Veeam Backup & Replication 12 "Used Ports" (Microsoft Hyper-V guide),
# Japanese edition (shared/reference/veeam-used-ports.ja.txt). How the seed was
# read is documented in docs/policy.md. Variable names are part of the product
# interface: the inventory's settings { } block sets them.

variable "upgraded_from_pre_v10" {
  description = "Veeam Backup & Replication was installed before version 10.0 and upgraded: components added before the upgrade use the data mover range 2500-5000 instead of 2500-3300 (the footnote on every 2500~3300 range of the seed)."
  default     = false
}

variable "optional_port_135" {
  description = "Also open TCP 135 wherever the seed lists it beside 445 for deploying components or runtime processes. The seed marks it optional: it provides faster deployment."
  default     = false
}

variable "nfs_mountd_port" {
  description = "Static port of the mountd service on NFS v3 shares used as backup repositories. null (default): the port is dynamic and is not opened."
  default     = null
}

variable "nfs_statd_port" {
  description = "Static port of the statd service on NFS v3 shares used as backup repositories. null (default): the port is dynamic and is not opened."
  default     = null
}

variable "nfs_lockd_port" {
  description = "Static port of the lockd service (TCP and UDP) on NFS v3 shares used as backup repositories. null (default): the port is dynamic and is not opened."
  default     = null
}

variable "cloud_connect" {
  description = "The Veeam Backup & Replication console manages Veeam Cloud Connect infrastructure (console to backup server TCP 10003)."
  default     = false
}

variable "flr_ftp" {
  description = "Multi-OS file-level restore uses the FTP option (TCP 20 and 21 between the helper appliance and the VM guest OS)."
  default     = false
}

variable "sql_log_shipping" {
  description = "Microsoft SQL Server log shipping (transaction log backup) with non-persistent runtime components: TCP 6167 on the Windows VM guests."
  default     = false
}

variable "persistent_guest_agent" {
  description = "Jobs use persistent agent components (\"Use persistent guest agent\") in VM guests instead of the default non-persistent runtime components: opens the persistent agent ports (6160, 11731, 6167, 6173, 2500)."
  default     = false
}

variable "guest_dynamic_rpc" {
  description = "Open the dynamic RPC range 49152-65535 for the runtime process on Windows VM guests and on domain controllers. The seed says it is not needed with default Windows Firewall settings (Veeam then creates a rule for the runtime process) but is needed with other firewall settings or when application-aware processing fails with \"RPC function call failed\"; a portwarden-managed firewall (enforce mode) is not the default, hence true."
  default     = true
}

variable "cdp" {
  description = "The site uses VMware CDP (continuous data protection): opens the CDP rows between the backup server, vCenter and ESXi hosts that do not involve a CDP proxy (flows to and from cdp_proxy hosts need no setting)."
  default     = false
}

local "data_mover_ports" {
  value = var.upgraded_from_pre_v10 ? "2500-5000" : "2500-3300"
}

local "dynamic_rpc_ports" {
  value = "49152-65535"
}

variable "s3_compatible_port" {
  description = "Port of the IBM Cloud Object Storage or S3-compatible object storage that object storage repositories use. The seed gives no number (\"TCP/HTTPS, customizable, depends on the device settings\"); set it (443 for most devices) to get the outbound note on the gateway servers. null (default): no note."
  default     = null
}

variable "platforms" {
  description = "Virtualization platforms the site protects: \"hyperv\" (Microsoft Hyper-V, the seed) and/or \"vsphere\" (VMware vSphere). Roles of a platform not listed cannot be assigned."
  default     = ["hyperv"]
}
