variable "upgraded" { default = false }
variable "extra_port" { default = null }
variable "feature" { default = false }
local "movers" { value = var.upgraded ? "2500-5000" : "2500-3300" }

role "server"  { os = ["windows"] }
role "repo"    { os = ["linux", "windows"] }
role "proxy"   {}
role "console" { network = true }
role "nas"     { firewall = false }
role "linux_server" {
  os         = ["linux"]
  implied_by = ["repo"]
}

flow "ssh" {
  section = "Linux"
  description = "control channel"
  from = ["server"]
  to = ["linux_server"]
  protocol = "tcp"
  ports = [22]
}
flow "movers-from-server" {
  section = "Repo"
  description = "data movers"
  from = ["server"]
  to = ["repo"]
  protocol = "tcp"
  ports = [6162, local.movers]
}
flow "movers-from-proxy" {
  section = "Repo"
  description = "data movers"
  from = ["proxy"]
  to = ["repo"]
  protocol = "tcp"
  ports = [local.movers, 6162]
}
flow "console" {
  section = "Console"
  description = "console"
  from = ["console"]
  to = ["server"]
  protocol = "tcp"
  ports = [9392]
}
flow "extra" {
  section = "Repo"
  description = "optional static port"
  from = ["server"]
  to = ["repo"]
  protocol = ["tcp", "udp"]
  ports = [var.extra_port]
  when = var.extra_port != null
}
flow "feature" {
  section = "Server"
  description = "feature"
  from = ["console"]
  to = ["server"]
  protocol = "tcp"
  ports = [10003]
  when = var.feature
}
flow "broker" {
  section = "Server"
  description = "broker"
  local = true
  from = ["server"]
  to = ["server"]
  protocol = "tcp"
  ports = [9501]
}
flow "updates" {
  section = "Server"
  description = "update check"
  from = ["server"]
  endpoint = "updates.example.com"
  protocol = "tcp"
  ports = [443]
}
flow "nas" {
  section = "NAS"
  description = "nfs"
  from = ["proxy"]
  to = ["nas"]
  protocol = ["tcp", "udp"]
  ports = [111, 2049]
}
flow "repo-to-repo" {
  section = "Repo"
  description = "copy"
  from = ["repo"]
  to = ["repo"]
  protocol = "tcp"
  ports = [6164]
}
