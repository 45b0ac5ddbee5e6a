"""MQTT: the bridge that publishes sensor samples, and the pieces its consumers share (docs/mqtt.md)."""
