# Seed sections "Other Connections": NDMP server and SMTP server. The
# "Internet Connections" note (WinHTTP settings for an HTTP(S) proxy) names
# no port.

flow "ndmp" {
  section     = "NDMP Server"
  from        = ["gateway_server"]
  to          = ["ndmp_server"]
  protocol    = "tcp"
  ports       = [10000]
  description = "NDMP: used for data transfer between the components."
}

flow "smtp" {
  section     = "SMTP Server"
  from        = ["backup_server"]
  to          = ["smtp_server"]
  protocol    = "tcp"
  ports       = [25]
  description = "Port used by the SMTP server."
}
