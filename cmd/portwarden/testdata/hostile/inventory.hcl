host "prom" {
  address = "192.0.2.5"
  os      = "linux"
  roles   = ["monitoring"]
}
host "repo" {
  address = "192.0.2.30"
  os      = "linux"
  roles   = ["backup_repository"]
}
