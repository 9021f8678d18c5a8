"""Generated protobuf contracts (make proto). Do not edit."""
