# A VMware vSphere site on Veeam Backup & Replication 13 (the v13 policy pack).
#
# The backup server is the Veeam Software Appliance (Linux) with its PostgreSQL
# configuration database on a separate server. VMware backup proxies run on Linux
# and on Windows; the hardened repository was deployed from the Veeam
# Infrastructure Appliance ISO (it manages its own firewall, so portwarden prints
# its rules); a Windows gateway server writes to an SMB share on a NAS. vCenter
# and the ESXi hosts are appliances portwarden cannot manage: flows to them
# become notes on their sources, flows from them become rules on the destinations.
#
# Secrets come from the environment: PW_WINRM_PASSWORD and PW_SUDO_PASSWORD.

settings {
  veeam_version      = 13
  platforms          = ["vsphere"]
  management_sources = ["203.0.113.0/28"]
}

defaults {
  mode = "additive"

  ssh {
    user          = "portwarden"
    private_key   = "~/.ssh/portwarden_ed25519"
    known_hosts   = "~/.ssh/known_hosts"
    sudo          = true
    sudo_password = env("PW_SUDO_PASSWORD")
  }

  winrm {
    user     = "CORP\\svc-portwarden"
    password = env("PW_WINRM_PASSWORD")
    https    = true
    ca_cert  = "/etc/portwarden/corp-ca.pem"
    auth     = "ntlm"
  }
}

host "vbr13" {
  address = "192.0.2.10"
  os      = "linux"
  roles   = ["backup_server", "mount_server"]
  mode    = "enforce"
}

host "pg01" {
  address = "192.0.2.11"
  os      = "linux"
  roles   = ["config_database"]
}

host "vpx-lin01" {
  address = "192.0.2.21"
  os      = "linux"
  roles   = ["vmware_proxy"]
}

host "vpx-win01" {
  address = "192.0.2.22"
  os      = "windows"
  roles   = ["vmware_proxy"]
}

host "hardened01" {
  address = "192.0.2.30"
  os      = "linux"
  roles   = ["backup_repository", "infrastructure_appliance"]
  managed = false # Veeam Infrastructure Appliance: hardened, its firewall is Veeam's
}

host "gw01" {
  address = "192.0.2.40"
  os      = "windows"
  roles   = ["gateway_server"]
}

host "nas01" {
  address = "192.0.2.45"
  os      = "linux"
  roles   = ["smb_share"]
  managed = false # NAS: portwarden prints what to open on it
}

host "vcenter01" {
  address = "192.0.2.100"
  os      = "linux"
  roles   = ["vcenter_server"]
  managed = false
}

host "esxi01" {
  address = "192.0.2.101"
  os      = "linux"
  roles   = ["esxi_host"]
  managed = false
}

host "esxi02" {
  address = "192.0.2.102"
  os      = "linux"
  roles   = ["esxi_host"]
  managed = false
}

network "console" {
  cidrs = ["203.0.113.0/28"]
  roles = ["console", "web_ui_client", "rest_client", "rdp_client"]
}
