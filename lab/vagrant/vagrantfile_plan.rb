# frozen_string_literal: true

# Evaluates the repository's Vagrantfile without Vagrant: a stand-in for the small part of
# Vagrant's config API the Vagrantfile uses records every call and prints them as JSON.
#   ruby lab/vagrant/vagrantfile_plan.rb path/to/Vagrantfile
# Used by tests/static/test_vagrant.py (what the Vagrantfile declares) and by the
# vagrant-containers provider (lab/providers/vagrant_containers.py), which runs the same
# provisioners with the same environment in containers, so the two cannot drift apart.
require "json"

module Vagrant
  RESULT = {}

  # config.vm.provider "virtualbox" do |vb| ... end (and "libvirt"): every setting is recorded
  # under its own name, whatever the provider, so a new setting needs no change here.
  class Provider
    def initialize
      @settings = {}
      @customize = []
    end

    def customize(args)
      @customize << args.map(&:to_s)
    end

    def respond_to_missing?(_name, _include_private = false)
      true
    end

    def method_missing(name, *args)
      key = name.to_s
      return super unless key.end_with?("=") && args.size == 1

      @settings[key.delete_suffix("=")] = args[0].is_a?(Symbol) ? args[0].to_s : args[0]
    end

    def to_h
      @settings.merge("customize" => @customize)
    end
  end

  # config.vm / machine.vm
  class VM
    attr_accessor :box, :box_version, :box_check_update, :hostname

    def initialize
      @networks = []
      @provisioners = []
      @synced_folders = []
      @providers = {}
      @machines = []
    end

    def synced_folder(source, target, **options)
      @synced_folders << { "source" => source, "target" => target, "options" => options }
    end

    def network(type, **options)
      @networks << { "type" => type.to_s }.merge(options.transform_keys(&:to_s))
    end

    def provision(name, **options)
      @provisioners << { "name" => name.to_s }.merge(options.transform_keys(&:to_s))
    end

    # |provider, override|: override.vm.* applies to this provider only (its box, its sync).
    def provider(name)
      provider = Provider.new
      override = Config.new
      yield provider, override
      overrides = override.vm.to_h.reject { |_, v| v.nil? || v == [] || v == {} }
      @providers[name.to_s] = provider.to_h.merge("override" => overrides)
    end

    def define(name, **options)
      machine = Config.new
      yield machine
      @machines << { "name" => name, "primary" => options[:primary] }.merge(machine.vm.to_h)
    end

    def to_h
      { "box" => box, "box_version" => box_version, "box_check_update" => box_check_update,
        "hostname" => hostname, "networks" => @networks, "provisioners" => @provisioners,
        "synced_folders" => @synced_folders, "providers" => @providers, "machines" => @machines }
    end
  end

  class Config
    attr_reader :vm

    def initialize
      @vm = VM.new
    end
  end

  def self.configure(version)
    raise ArgumentError, "unexpected config version #{version}" unless version.to_s == "2"

    config = Config.new
    yield config
    RESULT.replace(config.vm.to_h)
  end
end

load ARGV.fetch(0)
puts JSON.generate(Vagrant::RESULT)
