"""What the lab builds without a registry: the kind node image, an offline apt repository, the Vagrant box."""
