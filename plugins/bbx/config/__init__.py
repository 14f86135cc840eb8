"""Tenant configuration: operators declare tenants, connections, standard attachments and
message types in a YAML/JSON file; ``bbx config apply FILE`` checks and loads it."""
