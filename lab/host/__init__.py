"""The machine the lab runs on: its processes, its directory, secret files, certificates, Docker in a netns."""
