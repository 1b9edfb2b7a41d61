"""Data: decode once with torchvision, keep uint8 tensors on the device, batch by indexing."""
