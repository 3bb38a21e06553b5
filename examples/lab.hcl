# A small lab: one backup server, one Hyper-V host, one hardened Linux
# repository, and the admins' network.
settings {
  upgraded_from_pre_v10 = false
}

defaults {
  ssh {
    user        = "root"
    private_key = "~/.ssh/id_ed25519"
    known_hosts = "~/.ssh/known_hosts"
  }
  winrm {
    user     = "LAB\\svc-portwarden"
    password = env("PW_WINRM_PASSWORD")
    ca_cert  = "lab-ca.pem"
  }
}

host "vbr01" {
  address = "192.0.2.10"
  os      = "windows"
  roles   = ["backup_server", "console"]
  managed = false
}

host "hv01" {
  address = "192.0.2.20"
  os      = "windows"
  roles   = ["hyperv_host"]
  managed = false
}

host "repo01" {
  address = "192.0.2.30"
  os      = "linux"
  roles   = ["backup_repository"]
  mode    = "enforce"
}

network "admins" {
  cidrs = ["203.0.113.0/28"]
  roles = ["console", "rest_client", "rdp_client"]
}
