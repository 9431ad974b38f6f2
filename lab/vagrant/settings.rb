# frozen_string_literal: true

# The Vagrant lab's settings, computed from lab/lab.yaml (nodes, versions, networking) and
# lab/vagrant/settings.yaml (box, VM size). Plain Ruby, no Vagrant API, so a test can run it:
#   ruby -r ./lab/vagrant/settings.rb -e 'puts LabVagrant.to_json(Dir.pwd)'    # from the repo root
require "ipaddr"
require "json"
require "yaml"

module LabVagrant
  MEBIBYTES = { "Mi" => 1, "Gi" => 1024, "Ti" => 1024 * 1024 }.freeze

  # "4Gi" -> 4096, "512Mi" -> 512
  def self.memory_mb(quantity)
    match = /\A(\d+)(Mi|Gi|Ti)\z/.match(quantity.to_s)
    raise ArgumentError, "lab.yaml: memory #{quantity.inspect} must be a whole number of Mi, Gi or Ti" unless match

    Integer(match[1]) * MEBIBYTES.fetch(match[2])
  end

  def self.positive_integer(value, what)
    number = Integer(value.to_s, 10)
    raise ArgumentError unless number.positive?

    number
  rescue ArgumentError
    raise ArgumentError, "#{what}: #{value.inspect} is not a positive whole number"
  end

  # LAB_OFFLINE: "0" (default) installs from pkgs.k8s.io and Calico's manifest, as on a laptop;
  # "1" installs from the local apt repository and image archives the project builds under
  # .lab/vagrant/offline/ and uses lab-cni instead of Calico (lab/vagrant/README.md).
  def self.offline(env)
    value = env.fetch("LAB_OFFLINE", "0").to_s
    raise ArgumentError, "LAB_OFFLINE: #{value.inspect} must be 0 (pkgs.k8s.io, Calico) or 1 (the local repository)" unless %w[0 1].include?(value)

    value
  end

  def self.load(root, env = ENV)
    spec = YAML.safe_load(File.read(File.join(root, "lab", "lab.yaml")))
    local = YAML.safe_load(File.read(File.join(root, "lab", "vagrant", "settings.yaml")))
    version = spec.fetch("versions").fetch("kubernetes").delete_prefix("v") # "1.29.15"
    minor = version.split(".")[0, 2].join(".")                              # "1.29"
    base = IPAddr.new(spec.fetch("networking").fetch("vagrant").fetch("nodeAddressBase"))
    all = spec.fetch("nodes")
    control_planes = all.select { |n| n["role"] == "control-plane" }
    raise ArgumentError, "lab.yaml: nodes: exactly one control-plane node is required" unless control_planes.size == 1

    # Control plane first (it must exist before a worker can join), then the workers in order;
    # addresses count up from nodeAddressBase in that order, as lab/spec.py's node_address does.
    ordered = control_planes + all.reject { |n| n["role"] == "control-plane" }
    vm = local.fetch("vm", {}) || {}
    nodes = ordered.each_with_index.map do |node, index|
      capacity = node.fetch("capacity")
      cpus = env["LAB_VM_CPUS"] || vm["cpus"] || capacity.fetch("cpu")
      memory = env["LAB_VM_MEMORY_MB"] || vm["memory_mb"] || memory_mb(capacity.fetch("memory"))
      {
        "name" => node.fetch("name"),
        "role" => node.fetch("role"),
        "ip" => IPAddr.new(base.to_i + index, Socket::AF_INET).to_s,
        "cpus" => positive_integer(cpus, "CPUs of #{node['name']} (LAB_VM_CPUS / settings.yaml vm.cpus)"),
        "memory_mb" => positive_integer(memory, "memory of #{node['name']} (LAB_VM_MEMORY_MB / settings.yaml vm.memory_mb)")
      }
    end
    {
      "cluster_name" => spec.fetch("clusterName"),
      "box" => local.fetch("box"),
      "box_version" => local.fetch("box_version").to_s,
      "libvirt_box" => local.fetch("libvirt_box"),
      "libvirt_box_version" => local.fetch("libvirt_box_version").to_s,
      "offline" => offline(env),
      "kubernetes_version" => version,
      "kubernetes_minor" => minor,
      "kubernetes_package" => "#{version}-#{local.fetch('kubernetes_package_revision')}",
      "calico_version" => local.fetch("calico_version").to_s,
      "pod_subnet" => spec.fetch("networking").fetch("podSubnet"),
      "service_subnet" => spec.fetch("networking").fetch("serviceSubnet"),
      # The host-only network the nodes share (Calico picks the node address from it).
      "node_cidr" => "#{base.mask(24)}/24",
      "control_plane_ip" => nodes.first["ip"],
      "nodes" => nodes
    }
  end

  def self.to_json(root, env = ENV)
    JSON.pretty_generate(load(root, env))
  end
end
