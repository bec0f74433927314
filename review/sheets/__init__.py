"""Sheet identity: sheet numbers (图号), disciplines (专业), title blocks (图签) and PDF input checks."""
