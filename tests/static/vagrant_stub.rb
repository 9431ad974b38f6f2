# frozen_string_literal: true

# Evaluates the repository's Vagrantfile without Vagrant: a stand-in for the small part of
# Vagrant's config API the Vagrantfile uses records every call and prints them as JSON.
#   ruby tests/static/vagrant_stub.rb path/to/Vagrantfile
require "json"

module Vagrant
  RESULT = {}

  # config.vm.provider "virtualbox" do |vb| ... end
  class Provider
    attr_accessor :name, :cpus, :memory

    def initialize
      @customize = []
    end

    def customize(args)
      @customize << args.map(&:to_s)
    end

    def to_h
      { "name" => name, "cpus" => cpus, "memory" => memory, "customize" => @customize }
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

    def provider(name)
      provider = Provider.new
      yield provider
      @providers[name.to_s] = provider.to_h
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
