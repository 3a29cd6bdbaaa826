-- labelgate: SASL EXTERNAL (XEP-0178) from TLS client certificates, for Prosody.
--
-- A certificate's id-on-xmppAddr names who may log in with it:
--   * user@host  — that user only (the authzid, when given, must be that JID);
--   * host       — the trusted-gateway certificate: any user of this host, named in the
--                  authzid (which is then required). This is a deployment decision: whoever
--                  holds that key can log in as anyone of the host. Give it to labelgate only.
-- The certificate must be valid now and chain to the c2s CA (Prosody's TLS settings).
-- Password logins are not offered on a host that uses this provider.
--
-- Enable with `authentication = "labelgate_ccert"` on a VirtualHost and this folder in
-- `plugin_paths`. Written for labelgate's tests and deployments (Prosody 0.12).

local jid = require "util.jid";
local sasl = require "util.sasl";

local SAN = "2.5.29.17";
local XMPP_ADDR = "1.3.6.1.5.5.7.8.5";
local host = module.host;

-- The user a certificate's addresses let log in under `authz` on this host, or nil.
local function user_for(addrs, authz)
	for _, addr in ipairs(addrs) do
		local node, domain, resource = jid.prepped_split(addr);
		if domain == host and not resource then
			if node then
				if authz == "" or jid.prep(authz) == node .. "@" .. domain then
					return node;
				end
			elseif authz ~= "" then
				local anode, adomain, aresource = jid.prepped_split(authz);
				if anode and adomain == host and not aresource then
					return anode;
				end
			end
		end
	end
	return nil;
end

local function external(session)
	return function(authz)
		if not session.secure then
			return nil, false;
		end
		local sock = session.conn:socket();
		local cert = sock.getpeercertificate and sock:getpeercertificate();
		if not cert then
			session.log("warn", "EXTERNAL without a client certificate");
			return nil, false;
		end
		if not cert:validat(os.time()) then
			session.log("warn", "client certificate not valid now");
			return nil, "expired";
		end
		local ok, errors = sock:getpeerverification();
		if not ok then
			session.log("warn", "client certificate does not chain to the CA: %s",
				errors and tostring(#errors) or "?");
			return nil, false;
		end
		local sans = cert:extensions()[SAN];
		local addrs = sans and sans[XMPP_ADDR];
		if not addrs then
			session.log("warn", "client certificate names no xmppAddr");
			return nil, false;
		end
		local user = user_for(addrs, authz or "");
		if not user then
			session.log("warn", "client certificate does not let %q log in", authz or "");
			return nil, false;
		end
		return user, true;
	end
end

local provider = {};

function provider.get_sasl_handler(session)
	return sasl.new(host, { external = session.secure and external(session) or nil });
end

function provider.test_password()
	return nil, "password logins are not offered here";
end

function provider.user_exists()
	return true;
end

function provider.set_password()
	return nil, "password logins are not offered here";
end

function provider.create_user()
	return nil, "accounts come from certificates";
end

function provider.users()
	return function() return nil; end;
end

module:provides("auth", provider);
