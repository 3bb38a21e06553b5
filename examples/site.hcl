# A realistic two-site Veeam Backup & Replication installation.
#
# HQ (192.0.2.0/24): the backup server with a remote SQL configuration
# database, two Hyper-V hosts, a hardened Linux repository, a Windows gateway
# in front of a Data Domain appliance, a WAN accelerator and a tape server.
# DR (198.51.100.0/24): a WAN accelerator and a Linux repository for backup
# copies. Guest VMs are processed with application-aware processing.
#
# Secrets come from the environment: PW_WINRM_PASSWORD and PW_SUDO_PASSWORD.

settings {
  upgraded_from_pre_v10 = true # this install started on v9.5: data movers use 2500-5000
  optional_port_135     = false
  management_sources    = ["203.0.113.0/28"] # the admins keep SSH and WinRM in enforce mode
}

defaults {
  mode = "additive"

  ssh {
    user          = "portwarden"
    private_key   = "~/.ssh/portwarden_ed25519"
    known_hosts   = "~/.ssh/known_hosts"
    sudo          = true
    sudo_password = env("PW_SUDO_PASSWORD")
    proxy_jump    = "jump@192.0.2.2"
  }

  winrm {
    user     = "CORP\\svc-portwarden"
    password = env("PW_WINRM_PASSWORD")
    https    = true
    ca_cert  = "/etc/portwarden/corp-ca.pem"
    auth     = "ntlm"
  }
}

group "hardened_linux" {
  os       = "linux"
  mode     = "enforce"
  firewall = "nftables"
}

group "hyperv" {
  os    = "windows"
  roles = ["hyperv_host"]
}

# ---- HQ ----

host "vbr01" {
  address = "192.0.2.10"
  os      = "windows"
  roles   = ["backup_server", "mount_server", "guest_interaction_proxy"]
}

host "sql01" {
  address = "192.0.2.11"
  os      = "windows"
  roles   = ["config_database"]
}

host "hv01" {
  address = "192.0.2.21"
  groups  = ["hyperv"]
}

host "hv02" {
  address = "192.0.2.22"
  groups  = ["hyperv"]
}

host "repo01" {
  address = "192.0.2.30"
  groups  = ["hardened_linux"]
  roles   = ["backup_repository"]
}

host "gw01" {
  address = "192.0.2.40"
  os      = "windows"
  roles   = ["gateway_server"]
}

host "dd01" {
  address = "192.0.2.45"
  os      = "linux"
  roles   = ["data_domain"]
  managed = false # an appliance: portwarden prints what to open on it
}

host "wan-hq" {
  address = "192.0.2.50"
  os      = "windows"
  roles   = ["wan_accelerator"]
}

host "tape01" {
  address = "192.0.2.60"
  os      = "windows"
  roles   = ["tape_server"]
}

host "dns01" {
  address = "192.0.2.53"
  os      = "windows"
  roles   = ["dns_server", "domain_controller", "guest_windows"]
  managed = false # owned by the Windows team
}

host "app01" {
  address = "192.0.2.80"
  os      = "windows"
  roles   = ["guest_windows", "sql_guest"]
  managed = false
}

host "web01" {
  address = "192.0.2.81"
  os      = "linux"
  roles   = ["guest_linux"]
  managed = false
}

# ---- DR ----

host "wan-dr" {
  address = "198.51.100.50"
  os      = "windows"
  roles   = ["wan_accelerator"]
}

host "repo-dr" {
  address = "198.51.100.30"
  groups  = ["hardened_linux"]
  roles   = ["backup_repository"]
}

network "admins" {
  cidrs = ["203.0.113.0/28"]
  roles = ["console", "rest_client", "rdp_client"]
}
