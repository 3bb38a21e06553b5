# Seed section "Multi-OS FLR": file-level restore from non-Windows guest file
# systems through a helper appliance (or a helper host). The "VM guest OS" of
# this table is reached over SSH: it is a Linux (or other Unix-like) guest,
# role guest_linux.

flow "flr-backup-server-helper-ssh" {
  section     = "Multi-OS FLR"
  from        = ["backup_server"]
  to          = ["helper_appliance"]
  protocol    = "tcp"
  ports       = [22]
  description = "Communication channel from the backup server to the proxy (helper) appliance during multi-OS file-level restore."
}

flow "flr-backup-server-helper-data" {
  section     = "Multi-OS FLR"
  from        = ["backup_server"]
  to          = ["helper_appliance"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Default range of ports used as data transmission channels; one port of the range is assigned to every TCP connection a job uses."
}

flow "flr-backup-server-guest-ssh" {
  section     = "Multi-OS FLR"
  from        = ["backup_server"]
  to          = ["guest_linux"]
  protocol    = "tcp"
  ports       = [22]
  description = "Communication channel to the Linux guest OS during multi-OS file-level restore."
}

flow "flr-backup-server-guest-data" {
  section     = "Multi-OS FLR"
  from        = ["backup_server"]
  to          = ["guest_linux"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Default range of ports used as data transmission channels; one port of the range is assigned to every TCP connection a job uses."
}

flow "flr-helper-guest-ssh" {
  section     = "Multi-OS FLR"
  from        = ["helper_appliance"]
  to          = ["guest_linux"]
  protocol    = "tcp"
  ports       = [22]
  description = "Communication channel from the proxy (helper) appliance to the Linux guest OS during multi-OS file-level restore."
}

flow "flr-helper-guest-ftp-data" {
  section     = "Multi-OS FLR"
  from        = ["helper_appliance"]
  to          = ["guest_linux"]
  protocol    = "tcp"
  ports       = [20]
  when        = var.flr_ftp
  description = "[If the FTP option is used] Default port used for data transfer."
}

flow "flr-helper-guest-data" {
  section     = "Multi-OS FLR"
  from        = ["helper_appliance"]
  to          = ["guest_linux"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Default range of ports used as data transmission channels from the helper appliance to the guest OS; one port of the range is assigned to every TCP connection a job uses."
}

flow "flr-guest-helper-ssh" {
  section     = "Multi-OS FLR"
  from        = ["guest_linux"]
  to          = ["helper_appliance"]
  protocol    = "tcp"
  ports       = [22]
  description = "Communication channel between the Linux guest OS and the proxy (helper) appliance during multi-OS file-level restore."
}

flow "flr-guest-helper-ftp-control" {
  section     = "Multi-OS FLR"
  from        = ["guest_linux"]
  to          = ["helper_appliance"]
  protocol    = "tcp"
  ports       = [21]
  when        = var.flr_ftp
  description = "[If the FTP option is used] Default port used for protocol control messages."
}

flow "flr-guest-helper-data" {
  section     = "Multi-OS FLR"
  from        = ["guest_linux"]
  to          = ["helper_appliance"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Default range of ports used as data transmission channels from the guest OS to the helper appliance; one port of the range is assigned to every TCP connection a job uses."
}

flow "flr-mount-helper-ssh" {
  section     = "Multi-OS FLR"
  from        = ["mount_server"]
  to          = ["helper_appliance"]
  protocol    = "tcp"
  ports       = [22]
  description = "Communication channel from the mount server to the proxy (helper) appliance during multi-OS file-level restore."
}

flow "flr-mount-helper-data" {
  section     = "Multi-OS FLR"
  from        = ["mount_server"]
  to          = ["helper_appliance"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Default range of ports used as data transmission channels; one port of the range is assigned to every TCP connection a job uses."
}

flow "flr-mount-repository" {
  section     = "Multi-OS FLR"
  from        = ["mount_server"]
  to          = ["backup_repository"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Default range of ports used for communication with the backup repository."
}

flow "flr-helper-host-repository" {
  section     = "Multi-OS FLR"
  from        = ["helper_host"]
  to          = ["backup_repository"]
  protocol    = "tcp"
  ports       = [local.data_mover_ports]
  description = "Default range of ports used as data transmission channels from the helper host to the backup repository; one port of the range is assigned to every TCP connection a job uses."
}
