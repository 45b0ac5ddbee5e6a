"""`hiptrack monitor`: every active person on an MQTT broker on one page, each with a drill-down to their
own live dashboard (docs/mqtt.md, docs/dashboard.md)."""
