"""The lab on this machine: its processes, directory, secret files, certificates, Docker in a netns."""
