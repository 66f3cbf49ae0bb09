"""What flows: the Flux event (parsing, validation, Go-JSON) and the Provider/Alert/Secret manifests."""
