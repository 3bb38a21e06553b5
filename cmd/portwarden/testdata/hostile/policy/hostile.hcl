# Control characters in a policy's texts (TestHostilePolicyTextEscaped).
role "monitoring" {
  description = "x\r\u001b[2K"
  os          = ["linux"]
}
flow "node-exporter" {
  section     = "Local\r\u001b[2KNo changes."
  description = "scrape\r\u001b[2KNo changes.\nNo changes. 9 hosts match the policy."
  from        = ["monitoring"]
  to          = ["linux_server"]
  protocol    = "tcp"
  ports       = [9100]
}
