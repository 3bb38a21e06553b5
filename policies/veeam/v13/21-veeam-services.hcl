# Page section "Veeam Servers and Services": Veeam-run endpoints (outbound notes)
# and Veeam ONE.

flow "update-repository" {
  section     = "Veeam Servers and Services: backup server, Veeam Infrastructure Appliance → Veeam Update Repository TCP 443 or 80"
  from        = ["backup_server", "infrastructure_appliance"]
  endpoint    = "repository.veeam.com"
  protocol    = "tcp"
  ports       = [80, 443]
  description = "Veeam Update Repository (product, operating system and security updates) for the Veeam Software Appliance and the Veeam Infrastructure Appliance."
}

flow "update-repository-mirror" {
  section     = "Veeam Servers and Services: backup server, Veeam Infrastructure Appliance → Veeam Update Repository (local mirror) TCP 443 or 80"
  from        = ["backup_server", "infrastructure_appliance"]
  endpoint    = "<local mirror of the Veeam Update Repository>"
  protocol    = "tcp"
  ports       = [80, 443]
  description = "Local mirror of the Veeam Update Repository (replace with the URL of your mirror)."
}

flow "license-update" {
  section     = "Veeam Servers and Services: backup server → Veeam License Update Server TCP 443"
  from        = ["backup_server"]
  endpoint    = "vbr.butler.veeam.com, autolk.veeam.com"
  protocol    = "tcp"
  ports       = [443]
  description = "Automatic license update over HTTPS; Veeam Threat Hunter and Veeam Data Cloud Vault also need it."
}

flow "license-update-certificate" {
  section     = "Veeam Servers and Services: backup server → Veeam License Update Server TCP 80"
  from        = ["backup_server"]
  endpoint    = "*.ss2.us, *.amazontrust.com"
  protocol    = "tcp"
  ports       = [80]
  description = "Certificate validation (CRL and OCSP endpoints; they may change, see the certificate)."
}

flow "update-notification" {
  section     = "Veeam Servers and Services: backup server → Veeam Update Notification Server TCP 443"
  from        = ["backup_server"]
  endpoint    = "dev.veeam.com, vbrad.butler.veeam.com, vbrce.butler.veeam.com"
  protocol    = "tcp"
  ports       = [443]
  description = "Information about available updates over HTTPS."
}

flow "ai-assistant" {
  section     = "Veeam Servers and Services: console, PC where web UI is open → Veeam AI Assistant TCP 443"
  from        = ["console", "web_ui_client"]
  endpoint    = "rest-ai.veeam.com"
  protocol    = "tcp"
  ports       = [443]
  description = "Veeam AI Assistant service."
}

flow "veeam-one-api" {
  section     = "Veeam Servers and Services: backup server → Veeam ONE Server TCP 2741, 2805"
  from        = ["backup_server"]
  to          = ["veeam_one_server"]
  protocol    = "tcp"
  ports       = [2741, 2805]
  description = "Veeam ONE internal Web API (Analytics view) and Veeam Analytics Service to Veeam ONE Monitoring service (data collection)."
}

flow "veeam-one-web" {
  section     = "Veeam Servers and Services: backup server → Veeam ONE Web Services TCP 1239"
  from        = ["backup_server"]
  to          = ["veeam_one_server"]
  protocol    = "tcp"
  ports       = [1239]
  description = "Veeam ONE Web Services (Analytics view)."
}
