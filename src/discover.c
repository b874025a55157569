/*-------------------------------------------------------------------------
 *
 * discover.c
 *	  gdpr.discover(sample): columns that look like personal data.
 *
 * Every column that coverage does not already call "pii" (unclassified and
 * not_pii columns; ignored tables are left out) is looked at twice:
 *
 * - by its name: the name is cut into lower-case tokens (at "_", "-",
 *   blanks, dots, digits and camelCase boundaries) and matched against a
 *   dictionary of personal-data column names in English, German, French,
 *   Spanish, Italian, Dutch, Portuguese, Polish and the Scandinavian
 *   languages.  An entry matches whole tokens ("first name" matches
 *   first_name, firstName and firstname), never a part of a token, so
 *   "emailing" or "addressee" do not match.  A match followed by a final
 *   token that makes the column about the thing rather than the thing
 *   itself (address_id, email_verified, phone_type, email_sent_at: see
 *   not_the_value) does not count, nor does any boolean column.  A bare
 *   "name" (nom, nome, nombre, naam, navn, namn) counts only in a table
 *   whose name says it holds people (customer, staff, kunde, ...); a city
 *   or district only in a table with a street address or postcode column.
 *
 * - by a sample of its values: at most `sample` rows of each table (the
 *   first ones a sequential read returns), streamed through an SPI cursor
 *   in batches, in a memory context reset after each batch and each table.
 *   Text values (the first 2000 characters) are checked for e-mail
 *   addresses (anywhere in the text), IBANs with a valid mod-97 check
 *   (the value, or a word of it), payment card numbers with a valid Luhn
 *   digit (13 to 19 digits, blanks and dashes allowed), phone numbers
 *   (7 to 15 digits, optionally +, blanks, dashes, dots, slashes,
 *   brackets; not a date) and IPv4/IPv6 addresses; inet and cidr columns
 *   hold IP addresses by type; date columns are dates of birth when most
 *   values lie between 1900 and 16 years ago and are varied.  E-mail
 *   addresses and valid IBANs count from one hit; the other kinds, which a
 *   random value can imitate, need at least half of the non-null values.
 *
 * It writes nothing and reads as the caller: a column the caller may not
 * SELECT (or whose schema it may not use) is reported as not examined, and
 * so is every sampled column of a table whose read fails (the error is
 * caught in a subtransaction and its message given as evidence).
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/discover.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/xact.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "gdpr.h"

PG_FUNCTION_INFO_V1(gdpr_discover);

/* the longest prefix of a text value that is checked */
#define DISCOVER_VALUE_PREFIX	2000
/* rows fetched from the cursor at a time */
#define DISCOVER_BATCH			100
/* most tokens looked at in a column name */
#define MAX_TOKENS				16

/* what a column's values can look like */
typedef enum ValueKind
{
	VK_EMAIL,
	VK_IBAN,
	VK_CARD,
	VK_PHONE,
	VK_IP,
	VK_BIRTH_DATE,
	VK_COUNT
} ValueKind;

static const char *const value_kind_names[VK_COUNT] = {
	"email", "iban", "payment_card", "phone", "ip_address", "birth_date"
};
static const char *const value_kind_phrases[VK_COUNT] = {
	"contain an e-mail address", "are or contain an IBAN with a valid check digit",
	"are payment card numbers with a valid Luhn digit", "are phone numbers",
	"are IP addresses", "are plausible dates of birth"
};

/* how a column's values are sampled */
typedef enum SampleHow
{
	SAMPLE_NONE,				/* not sampled (a type not checked) */
	SAMPLE_TEXT,				/* as text */
	SAMPLE_DATE,				/* a date */
	SAMPLE_INET					/* inet or cidr: an IP address by type */
} SampleHow;

/* one column looked at */
typedef struct DiscColumn
{
	char	   *attname;
	AttrNumber	attnum;
	char	   *status;			/* its coverage status */
	bool		pii;			/* already PII: context only */
	Oid			typid;			/* base type */
	const char *name_kind;		/* by name, or NULL */
	const char *name_entry;		/* the dictionary entry it matched */
	bool		weak;			/* a city or district: needs an address nearby */
	bool		readable;
	SampleHow	how;
	char	   *not_examined;	/* why its values were not examined, or NULL */
	int			nonnull;
	int			hits[VK_COUNT];
	HTAB	   *distinct;		/* dates seen (VK_BIRTH_DATE) */
} DiscColumn;

/* one table looked at */
typedef struct DiscTable
{
	Oid			relid;
	List	   *columns;		/* DiscColumn * */
} DiscTable;

/* a dictionary entry: space-separated tokens, and the kind it says */
typedef struct NameEntry
{
	const char *kind;
	const char *entry;
} NameEntry;

/*
 * The dictionary.  Entries are lower case; several tokens are separated
 * by one blank.  "name" kinds marked bare below are handled apart.
 */
static const NameEntry name_dictionary[] = {
	/* e-mail */
	{"email", "email"}, {"email", "e mail"}, {"email", "mail"},
	{"email", "mail address"}, {"email", "email address"}, {"email", "emailadresse"},
	{"email", "mailadresse"}, {"email", "courriel"}, {"email", "adresse electronique"},
	{"email", "correo"}, {"email", "correo electronico"}, {"email", "posta elettronica"},
	{"email", "epost"}, {"email", "e post"}, {"email", "epostadresse"},
	{"email", "epostadress"}, {"email", "mailadres"}, {"email", "emailadres"},
	{"email", "adres email"}, {"email", "endereco email"},
	/* phone */
	{"phone", "phone"}, {"phone", "phone number"}, {"phone", "phonenumber"},
	{"phone", "telephone"}, {"phone", "tel"}, {"phone", "tel no"}, {"phone", "telefon"},
	{"phone", "telefonnummer"}, {"phone", "handy"}, {"phone", "handynummer"},
	{"phone", "mobil"}, {"phone", "mobile"}, {"phone", "mobile phone"},
	{"phone", "mobile number"}, {"phone", "mobilnummer"}, {"phone", "mobiltelefon"},
	{"phone", "cell"}, {"phone", "cellphone"}, {"phone", "cell phone"}, {"phone", "fax"},
	{"phone", "téléphone"}, {"phone", "portable"}, {"phone", "telefono"},
	{"phone", "teléfono"}, {"phone", "celular"}, {"phone", "movil"}, {"phone", "móvil"},
	{"phone", "cellulare"}, {"phone", "telefoon"}, {"phone", "telefoonnummer"},
	{"phone", "mobiel"}, {"phone", "telemovel"}, {"phone", "telemóvel"},
	{"phone", "numer telefonu"}, {"phone", "telefonu"}, {"phone", "komorka"},
	{"phone", "komórka"}, {"phone", "tlf"}, {"phone", "tlfnr"}, {"phone", "telefonnr"},
	/* a person's name */
	{"name", "first name"}, {"name", "firstname"}, {"name", "given name"},
	{"name", "givenname"}, {"name", "forename"}, {"name", "last name"},
	{"name", "lastname"}, {"name", "surname"}, {"name", "family name"},
	{"name", "familyname"}, {"name", "full name"}, {"name", "fullname"},
	{"name", "middle name"}, {"name", "maiden name"}, {"name", "contact name"},
	{"name", "customer name"}, {"name", "person name"}, {"name", "vorname"},
	{"name", "nachname"}, {"name", "familienname"}, {"name", "prénom"},
	{"name", "prenom"}, {"name", "nom de famille"}, {"name", "apellido"},
	{"name", "apellidos"}, {"name", "cognome"}, {"name", "voornaam"},
	{"name", "achternaam"}, {"name", "tussenvoegsel"}, {"name", "sobrenome"},
	{"name", "apelido"}, {"name", "imię"}, {"name", "imie"}, {"name", "nazwisko"},
	{"name", "fornavn"}, {"name", "efternavn"}, {"name", "etternavn"},
	{"name", "förnamn"}, {"name", "fornamn"}, {"name", "efternamn"},
	{"name", "mellomnavn"},
	/* a street address */
	{"address", "address"}, {"address", "addr"}, {"address", "street"},
	{"address", "street address"}, {"address", "address line"},
	{"address", "house number"}, {"address", "adresse"}, {"address", "anschrift"},
	{"address", "strasse"}, {"address", "straße"}, {"address", "hausnummer"},
	{"address", "direccion"}, {"address", "dirección"}, {"address", "calle"},
	{"address", "domicilio"}, {"address", "indirizzo"}, {"address", "adres"},
	{"address", "straat"}, {"address", "huisnummer"}, {"address", "morada"},
	{"address", "endereco"}, {"address", "endereço"}, {"address", "ulica"},
	{"address", "adress"}, {"address", "gatuadress"},
	/* postcode */
	{"postcode", "postcode"}, {"postcode", "post code"}, {"postcode", "postal code"},
	{"postcode", "postalcode"}, {"postcode", "zip"}, {"postcode", "zip code"},
	{"postcode", "zipcode"}, {"postcode", "plz"}, {"postcode", "postleitzahl"},
	{"postcode", "code postal"}, {"postcode", "codigo postal"},
	{"postcode", "código postal"}, {"postcode", "cep"}, {"postcode", "kod pocztowy"},
	{"postcode", "postnummer"}, {"postcode", "postnr"},
	/* date of birth */
	{"birth_date", "birth date"}, {"birth_date", "birthdate"},
	{"birth_date", "date of birth"}, {"birth_date", "dob"}, {"birth_date", "birthday"},
	{"birth_date", "birth"}, {"birth_date", "born"}, {"birth_date", "geburtsdatum"},
	{"birth_date", "geburtstag"}, {"birth_date", "date de naissance"},
	{"birth_date", "naissance"}, {"birth_date", "fecha de nacimiento"},
	{"birth_date", "nacimiento"}, {"birth_date", "data di nascita"},
	{"birth_date", "nascita"}, {"birth_date", "geboortedatum"},
	{"birth_date", "data de nascimento"}, {"birth_date", "nascimento"},
	{"birth_date", "data urodzenia"}, {"birth_date", "fodselsdato"},
	{"birth_date", "fødselsdato"}, {"birth_date", "födelsedatum"},
	{"birth_date", "fodelsedatum"}, {"birth_date", "fødselsdag"},
	/* bank account */
	{"iban", "iban"}, {"iban", "bank account"}, {"iban", "account number"},
	{"iban", "kontonummer"}, {"iban", "rib"}, {"iban", "cuenta bancaria"},
	{"iban", "numero de cuenta"}, {"iban", "conto corrente"},
	{"iban", "rekeningnummer"}, {"iban", "numer konta"},
	/* payment card */
	{"payment_card", "card number"}, {"payment_card", "credit card"},
	{"payment_card", "creditcard"}, {"payment_card", "cc number"},
	{"payment_card", "kreditkarte"}, {"payment_card", "kartennummer"},
	{"payment_card", "carte bancaire"}, {"payment_card", "numero de tarjeta"},
	{"payment_card", "tarjeta"},
	/* national identifiers */
	{"national_id", "ssn"}, {"national_id", "social security"},
	{"national_id", "social security number"}, {"national_id", "nin"},
	{"national_id", "nino"}, {"national_id", "national insurance"},
	{"national_id", "national insurance number"}, {"national_id", "national id"},
	{"national_id", "tax id"}, {"national_id", "tin"}, {"national_id", "taxpayer id"},
	{"national_id", "steuer id"}, {"national_id", "steuerid"},
	{"national_id", "steueridentifikationsnummer"}, {"national_id", "steuernummer"},
	{"national_id", "ausweisnummer"}, {"national_id", "personalausweis"},
	{"national_id", "sozialversicherungsnummer"}, {"national_id", "svnr"},
	{"national_id", "nif"}, {"national_id", "nie"}, {"national_id", "dni"},
	{"national_id", "nir"}, {"national_id", "insee"},
	{"national_id", "numero securite sociale"}, {"national_id", "securite sociale"},
	{"national_id", "numéro de sécurité sociale"}, {"national_id", "sécurité sociale"},
	{"national_id", "codice fiscale"}, {"national_id", "codicefiscale"},
	{"national_id", "bsn"}, {"national_id", "burgerservicenummer"},
	{"national_id", "pesel"}, {"national_id", "personnummer"}, {"national_id", "cpr"},
	{"national_id", "cpr nummer"}, {"national_id", "fodselsnummer"},
	{"national_id", "fødselsnummer"}, {"national_id", "personal number"},
	{"national_id", "passport"}, {"national_id", "passport number"},
	{"national_id", "reisepass"}, {"national_id", "pasaporte"},
	{"national_id", "passaporto"}, {"national_id", "paspoort"},
	{"national_id", "passaporte"}, {"national_id", "paszport"},
	{"national_id", "driver license"}, {"national_id", "drivers license"},
	{"national_id", "driving licence"}, {"national_id", "fuhrerschein"},
	{"national_id", "führerschein"}, {"national_id", "cpf"}, {"national_id", "nhs number"},
	/* IP address */
	{"ip_address", "ip"}, {"ip_address", "ip address"}, {"ip_address", "ipaddress"},
	{"ip_address", "ip addr"}, {"ip_address", "ipaddr"}, {"ip_address", "remote addr"},
	{"ip_address", "client ip"}, {"ip_address", "remote ip"}, {"ip_address", "ipv4"},
	{"ip_address", "ipv6"},
	/* account, photo, gender */
	{"username", "username"}, {"username", "user name"}, {"username", "login"},
	{"username", "nickname"}, {"username", "benutzername"},
	{"photo", "photo"}, {"photo", "picture"}, {"photo", "avatar"},
	{"photo", "portrait"}, {"photo", "foto"}, {"photo", "headshot"},
	{"gender", "gender"}, {"gender", "sex"}, {"gender", "geschlecht"},
	{"gender", "sexe"}, {"gender", "sexo"}, {"gender", "genere"},
	{"gender", "geslacht"}, {"gender", "płeć"}, {"gender", "kön"}, {"gender", "kjønn"},
	{"gender", "køn"},
	/* weak: only next to a street address or postcode */
	{"city", "city"}, {"city", "town"}, {"city", "ort"}, {"city", "wohnort"},
	{"city", "stadt"}, {"city", "ville"}, {"city", "ciudad"}, {"city", "localidad"},
	{"city", "città"}, {"city", "citta"}, {"city", "plaats"}, {"city", "woonplaats"},
	{"city", "cidade"}, {"city", "miasto"}, {"city", "stad"}, {"city", "poststed"},
	{"city", "postort"}, {"city", "district"},
	{NULL, NULL}
};

/* a bare "name" in these languages: a person's name in a table of people */
static const char *const bare_names[] = {
	"name", "nom", "nome", "nombre", "naam", "navn", "namn", NULL
};

/* table name tokens (singular) that say a table holds people */
static const char *const person_tables[] = {
	"customer", "client", "user", "person", "people", "member", "employee",
	"staff", "patient", "contact", "student", "guest", "applicant",
	"candidate", "author", "actor", "subscriber", "recipient", "passenger",
	"driver", "kunde", "kunden", "mitarbeiter", "benutzer", "nutzer",
	"personen", "cliente", "utente", "utenti", "utilisateur", "usuario",
	"klant", "klanten", "gebruiker", "medewerker", "klient", "klienci",
	"pracownik", "kund", "kunder", "ansatt", "anställd", "elev", NULL
};

/*
 * Final tokens that make a column about the thing rather than the thing:
 * address_id is a key, email_verified a flag, phone_type a category.
 */
static const char *const not_the_value[] = {
	"id", "ids", "key", "fk", "pk", "uuid", "guid", "ref", "count", "cnt",
	"type", "kind", "status", "format", "verified", "valid", "validated",
	"confirmed", "confirmation", "flag", "enabled", "disabled", "opt",
	"optin", "optout", "consent", "template", "domain", "provider",
	"visible", "public", "private", "changed", "updated", "update", "at",
	"on", "time", "ts", "length", "len", "hash", "sent", "bounced", "policy",
	"label", "code" /* but "postal code", "zip code" are entries */ ,
	"prefix", "suffix", "country", "region", NULL
};

/*
 * in_list
 *		Whether s is one of the strings of a NULL-terminated list.
 */
static bool
in_list(const char *const *list, const char *s)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

/*
 * tokenise
 *		Cut an identifier into lower-case tokens of letters (at anything but
 *		a letter, and where a lower-case letter is followed by an upper-case
 *		one).  Bytes >= 0x80 count as letters (UTF-8).  Returns how many.
 */
static int
tokenise(const char *name, char **tokens)
{
	int			n = 0;
	const char *p = name;

	while (*p != '\0' && n < MAX_TOKENS)
	{
		StringInfoData buf;

		while (*p != '\0' && !isalpha((unsigned char) *p) && !((unsigned char) *p & 0x80))
			p++;
		if (*p == '\0')
			break;
		initStringInfo(&buf);
		while (*p != '\0' && (isalpha((unsigned char) *p) || ((unsigned char) *p & 0x80)))
		{
			appendStringInfoChar(&buf, (char) tolower((unsigned char) *p));
			if (islower((unsigned char) p[0]) && isupper((unsigned char) p[1]))
			{
				p++;
				break;
			}
			p++;
		}
		tokens[n++] = buf.data;
	}
	return n;
}

/*
 * match_entry
 *		Where dictionary entry (blank-separated tokens) matches the tokens:
 *		as the same sequence of tokens, or as one token equal to the entry's
 *		tokens run together.  Returns the index of the last token matched,
 *		or -1.
 */
static int
match_entry(const char *entry, char **tokens, int ntokens)
{
	char	   *etok[MAX_TOKENS];
	int			ne = 0;
	char	   *copy = pstrdup(entry);
	char	   *joined = palloc(strlen(entry) + 1);
	char	   *s;
	char	   *save = NULL;
	int			j = 0;

	for (s = strtok_r(copy, " ", &save); s != NULL && ne < MAX_TOKENS;
		 s = strtok_r(NULL, " ", &save))
	{
		etok[ne++] = s;
		strcpy(joined + j, s);
		j += strlen(s);
	}
	joined[j] = '\0';

	for (int i = 0; i + ne <= ntokens; i++)
	{
		int			k;

		for (k = 0; k < ne; k++)
			if (strcmp(tokens[i + k], etok[k]) != 0)
				break;
		if (k == ne)
			return i + ne - 1;
	}
	if (ne > 1)
		for (int i = 0; i < ntokens; i++)
			if (strcmp(tokens[i], joined) == 0)
				return i;
	return -1;
}

/*
 * match_name
 *		Look at a column's name: sets col->name_kind and name_entry (the
 *		longest entry matching, not followed by a not_the_value token).
 */
static void
match_name(DiscColumn *col, bool person_table)
{
	char	   *tokens[MAX_TOKENS];
	int			n = tokenise(col->attname, tokens);
	size_t		best = 0;

	if (n == 0 || col->typid == BOOLOID)
		return;
	for (const NameEntry *e = name_dictionary; e->kind != NULL; e++)
	{
		int			last = match_entry(e->entry, tokens, n);
		size_t		len;

		if (last < 0)
			continue;
		/* a final token saying it is about the value, not the value */
		if (last < n - 1 && in_list(not_the_value, tokens[n - 1]))
			continue;
		/* the longest entry wins; "e mail" is no longer than "email" */
		len = strlen(e->entry);

		for (const char *c = e->entry; *c; c++)
			if (*c == ' ')
				len--;
		if (len > best)
		{
			best = len;
			col->name_kind = e->kind;
			col->name_entry = e->entry;
		}
	}
	if (col->name_kind == NULL && person_table)
	{
		for (int i = 0; i < n; i++)
			if (in_list(bare_names, tokens[i]) &&
				(i == n - 1 || !in_list(not_the_value, tokens[n - 1])))
			{
				col->name_kind = "name";
				col->name_entry = tokens[i];
				break;
			}
	}
	col->weak = col->name_kind != NULL && strcmp(col->name_kind, "city") == 0;
}

/*
 * is_person_table
 *		Whether a table's name says it holds people.
 */
static bool
is_person_table(Oid relid)
{
	char	   *tokens[MAX_TOKENS];
	int			n = tokenise(get_rel_name(relid), tokens);

	for (int i = 0; i < n; i++)
	{
		size_t		len = strlen(tokens[i]);

		if (in_list(person_tables, tokens[i]))
			return true;
		/* a plural in -s */
		if (len > 3 && tokens[i][len - 1] == 's')
		{
			tokens[i][len - 1] = '\0';
			if (in_list(person_tables, tokens[i]))
				return true;
		}
	}
	return false;
}

/* ------------------------------------------------------------------------
 * Value checks
 * ------------------------------------------------------------------------
 */

/*
 * email_local_char / email_domain_char
 *		Characters of the two parts of an e-mail address.
 */
static bool
email_local_char(char c)
{
	return isalnum((unsigned char) c) || strchr("._%+-'", c) != NULL;
}

static bool
email_domain_char(char c)
{
	return isalnum((unsigned char) c) || c == '.' || c == '-';
}

/*
 * has_email
 *		Whether s contains an e-mail address: local@domain.tld, the tld two
 *		letters or more.
 */
static bool
has_email(const char *s)
{
	for (const char *at = strchr(s, '@'); at != NULL; at = strchr(at + 1, '@'))
	{
		const char *p = at;
		const char *q = at + 1;
		const char *lastdot = NULL;
		int			tld = 0;

		while (p > s && email_local_char(p[-1]))
			p--;
		if (p == at)
			continue;
		while (email_domain_char(*q))
		{
			if (*q == '.')
				lastdot = q;
			q++;
		}
		/* a domain ending in a dot: the sentence's full stop */
		while (q > at + 1 && q[-1] == '.')
		{
			q--;
			lastdot = NULL;
			for (const char *r = at + 1; r < q; r++)
				if (*r == '.')
					lastdot = r;
		}
		if (lastdot == NULL || lastdot == at + 1)
			continue;
		for (const char *r = lastdot + 1; r < q; r++)
		{
			if (!isalpha((unsigned char) *r))
			{
				tld = 0;
				break;
			}
			tld++;
		}
		if (tld >= 2)
			return true;
	}
	return false;
}

/*
 * iban_valid
 *		Whether s (len bytes, blanks and dashes allowed between characters)
 *		is an IBAN: two letters, two check digits, 11 to 30 letters and
 *		digits, and the ISO 7064 mod-97 check gives 1.
 */
static bool
iban_valid(const char *s, int len)
{
	char		buf[40];
	int			n = 0;
	int			rem = 0;

	for (int i = 0; i < len; i++)
	{
		char		c = s[i];

		if (c == ' ' || c == '-')
			continue;
		if (!isalnum((unsigned char) c) || n >= 34)
			return false;
		buf[n++] = (char) toupper((unsigned char) c);
	}
	if (n < 15 || !isalpha((unsigned char) buf[0]) || !isalpha((unsigned char) buf[1]) ||
		!isdigit((unsigned char) buf[2]) || !isdigit((unsigned char) buf[3]))
		return false;
	/* the first four characters move to the end; letters count A=10 .. Z=35 */
	for (int k = 0; k < n; k++)
	{
		char		c = buf[(k + 4) % n];

		if (isdigit((unsigned char) c))
			rem = (rem * 10 + (c - '0')) % 97;
		else
			rem = (rem * 100 + (c - 'A' + 10)) % 97;
	}
	return rem == 1;
}

/*
 * has_iban
 *		Whether s is an IBAN (in its printed form, with blanks) or has one
 *		as a word.
 */
static bool
has_iban(const char *s)
{
	const char *p = s;

	if (iban_valid(s, strlen(s)))
		return true;
	while (*p != '\0')
	{
		const char *q;

		while (*p != '\0' && !isalnum((unsigned char) *p))
			p++;
		q = p;
		while (isalnum((unsigned char) *q))
			q++;
		if (q - p >= 15 && iban_valid(p, q - p))
			return true;
		p = q;
	}
	return false;
}

/*
 * is_card
 *		Whether s is a payment card number: 13 to 19 digits (blanks and
 *		dashes allowed), the first 2 to 6, not all alike, a valid Luhn digit.
 */
static bool
is_card(const char *s)
{
	int			digits[24];
	int			n = 0;
	int			sum = 0;
	bool		alike = true;

	for (const char *p = s; *p != '\0'; p++)
	{
		if (*p == ' ' || *p == '-')
			continue;
		if (!isdigit((unsigned char) *p) || n >= 19)
			return false;
		digits[n++] = *p - '0';
	}
	if (n < 13 || digits[0] < 2 || digits[0] > 6)
		return false;
	for (int i = 0; i < n; i++)
	{
		int			d = digits[n - 1 - i];

		if (d != digits[0])
			alike = false;
		if (i % 2 == 1)
		{
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	return !alike && sum % 10 == 0;
}

/*
 * looks_like_date
 *		Whether s is written like a date (2024-01-31, 31.01.2024, 1/31/24).
 */
static bool
looks_like_date(const char *s)
{
	int			groups[4] = {0};
	int			g = 0;
	char		sep = '\0';

	for (const char *p = s; *p != '\0'; p++)
	{
		if (isdigit((unsigned char) *p))
			groups[g]++;
		else if ((*p == '-' || *p == '.' || *p == '/') && g < 2 &&
				 (sep == '\0' || sep == *p) && groups[g] > 0)
		{
			sep = *p;
			g++;
		}
		else
			return false;
	}
	return g == 2 && groups[2] > 0 &&
		((groups[0] == 4 && groups[1] <= 2 && groups[2] <= 2) ||
		 (groups[0] <= 2 && groups[1] <= 2 && (groups[2] == 2 || groups[2] == 4)));
}

static bool is_ipv4(const char *s);

/*
 * is_phone
 *		Whether s is a phone number: an optional +, then digits with
 *		blanks, dashes, dots, slashes and brackets between them, 7 to 15
 *		digits, starting and ending with a digit (or a bracket first); not a
 *		date, not an IPv4 address.
 */
static bool
is_phone(const char *s)
{
	int			digits = 0;
	const char *p = s;
	size_t		len = strlen(s);

	if (len == 0 || !isdigit((unsigned char) s[len - 1]))
		return false;
	if (*p == '+')
		p++;
	if (!isdigit((unsigned char) *p) && *p != '(')
		return false;
	for (; *p != '\0'; p++)
	{
		if (isdigit((unsigned char) *p))
			digits++;
		else if (strchr(" -./()", *p) == NULL)
			return false;
	}
	return digits >= 7 && digits <= 15 && !looks_like_date(s) && !is_ipv4(s);
}

/*
 * is_ipv4
 *		Whether s is a dotted-quad IPv4 address, optionally with a /prefix.
 */
static bool
is_ipv4(const char *s)
{
	int			parts = 0;
	const char *p = s;

	while (parts < 4)
	{
		int			v = 0;
		int			nd = 0;

		while (isdigit((unsigned char) *p) && nd < 4)
		{
			v = v * 10 + (*p - '0');
			nd++;
			p++;
		}
		if (nd == 0 || nd > 3 || v > 255)
			return false;
		parts++;
		if (parts < 4)
		{
			if (*p != '.')
				return false;
			p++;
		}
	}
	if (*p == '/')
	{
		int			v = 0;
		int			nd = 0;

		for (p++; isdigit((unsigned char) *p); p++, nd++)
			v = v * 10 + (*p - '0');
		if (nd == 0 || nd > 2 || v > 32)
			return false;
	}
	return *p == '\0';
}

/*
 * is_ipv6
 *		Whether s is an IPv6 address: up to eight groups of 1 to 4 hex
 *		digits separated by colons, at most one "::", optionally ending in
 *		an IPv4 address, optionally with a /prefix.
 */
static bool
is_ipv6(const char *s)
{
	int			groups = 0;
	bool		gap = false;
	const char *p = s;
	char	   *slash;
	char	   *copy;

	if (strchr(s, ':') == NULL)
		return false;
	copy = pstrdup(s);
	slash = strchr(copy, '/');
	if (slash != NULL)
	{
		char	   *end;
		long		v = strtol(slash + 1, &end, 10);

		if (end == slash + 1 || *end != '\0' || v < 0 || v > 128)
			return false;
		*slash = '\0';
	}
	p = copy;
	if (p[0] == ':' && p[1] == ':')
	{
		gap = true;
		p += 2;
	}
	else if (p[0] == ':')
		return false;
	while (*p != '\0')
	{
		int			nd = 0;
		const char *start = p;

		while (isxdigit((unsigned char) *p) && nd < 5)
		{
			nd++;
			p++;
		}
		if (*p == '.' && groups <= 6)
			return is_ipv4(start) && (gap ? groups <= 5 : groups == 6);
		if (nd == 0 || nd > 4)
			return false;
		groups++;
		if (*p == '\0')
			break;
		if (*p != ':')
			return false;
		p++;
		if (*p == ':')
		{
			if (gap)
				return false;
			gap = true;
			p++;
		}
		else if (*p == '\0')
			return false;
	}
	return gap ? groups <= 7 : groups == 8;
}

/*
 * check_text
 *		Count what one text value looks like.
 */
static void
check_text(DiscColumn *col, char *value)
{
	char	   *s = value;
	size_t		len;

	/* trim */
	while (isspace((unsigned char) *s))
		s++;
	len = strlen(s);
	while (len > 0 && isspace((unsigned char) s[len - 1]))
		s[--len] = '\0';
	if (len == 0)
		return;

	if (strchr(s, '@') != NULL && has_email(s))
		col->hits[VK_EMAIL]++;
	if (len >= 15 && has_iban(s))
		col->hits[VK_IBAN]++;
	if (len >= 13 && is_card(s))
		col->hits[VK_CARD]++;
	if (len >= 7 && is_phone(s))
		col->hits[VK_PHONE]++;
	if (is_ipv4(s) || is_ipv6(s))
		col->hits[VK_IP]++;
}

/*
 * check_date
 *		Count a date value (ISO text): a plausible date of birth lies
 *		between 1900-01-01 and the cut-off (16 years ago).
 */
static void
check_date(DiscColumn *col, const char *value, const char *cutoff, MemoryContext cxt)
{
	char		key[16];
	bool		found;

	if (strcmp(value, "1900-01-01") < 0 || strcmp(value, cutoff) > 0)
		return;
	col->hits[VK_BIRTH_DATE]++;
	if (col->distinct == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(key);
		ctl.entrysize = sizeof(key);
		ctl.hcxt = cxt;
		col->distinct = hash_create("gdpr discover dates", 64, &ctl,
									HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	strlcpy(key, value, sizeof(key));
	(void) hash_search(col->distinct, key, HASH_ENTER, &found);
}

/*
 * value_kind_passes
 *		Whether the sampled values of col make it look like kind.
 */
static bool
value_kind_passes(DiscColumn *col, ValueKind kind)
{
	int			hits = col->hits[kind];

	if (hits == 0)
		return false;
	switch (kind)
	{
		case VK_EMAIL:
		case VK_IBAN:
			return true;
		case VK_BIRTH_DATE:
			{
				long		distinct = col->distinct ? hash_get_num_entries(col->distinct) : 0;

				return hits * 10 >= col->nonnull * 8 && col->nonnull >= 5 &&
					(distinct >= 20 || distinct * 10 >= hits * 3);
			}
		default:
			return hits * 2 >= col->nonnull;
	}
}

/* ------------------------------------------------------------------------
 * Sampling a table
 * ------------------------------------------------------------------------
 */

/*
 * sample_table
 *		Read at most sample rows of the table through a cursor, as the
 *		caller, and count what the sampled columns' values look like.
 *		Returns the number of rows read.  Errors propagate (the caller runs
 *		this in a subtransaction).
 */
static int
sample_table(DiscTable *t, List *sampled, int sample, const char *cutoff,
			 MemoryContext tablecxt)
{
	StringInfoData sql;
	ListCell   *lc;
	Portal		portal;
	int			rows = 0;
	bool		first = true;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(sample)};
	MemoryContext batchcxt = AllocSetContextCreate(tablecxt, "gdpr discover batch",
												   ALLOCSET_DEFAULT_SIZES);

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	foreach(lc, sampled)
	{
		DiscColumn *col = lfirst(lc);
		const char *qcol = quote_identifier(col->attname);

		if (!first)
			appendStringInfoString(&sql, ", ");
		first = false;
		if (col->how == SAMPLE_DATE)
			appendStringInfo(&sql, "pg_catalog.to_char(%s, 'YYYY-MM-DD')", qcol);
		else if (col->how == SAMPLE_INET)
			appendStringInfo(&sql, "CASE WHEN %s IS NOT NULL THEN 't' END", qcol);
		else
			appendStringInfo(&sql, "pg_catalog.left(%s::pg_catalog.text, %d)", qcol,
							 DISCOVER_VALUE_PREFIX);
	}
	appendStringInfo(&sql, " FROM %s LIMIT $1", gdpr_relation_from(t->relid));

	gdpr_spi_connect();
	portal = SPI_cursor_open_with_args(NULL, sql.data, 1, types, values, NULL, true,
									   CURSOR_OPT_NO_SCROLL);
	for (;;)
	{
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, DISCOVER_BATCH);
		if (SPI_processed == 0)
			break;
		old = MemoryContextSwitchTo(batchcxt);
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			int			attno = 1;

			foreach(lc, sampled)
			{
				DiscColumn *col = lfirst(lc);
				char	   *v = SPI_getvalue(tup, SPI_tuptable->tupdesc, attno++);

				if (v == NULL)
					continue;
				if (col->how == SAMPLE_INET)
				{
					/* an inet is an IP address */
					col->nonnull++;
					col->hits[VK_IP]++;
					continue;
				}
				col->nonnull++;
				if (col->how == SAMPLE_DATE)
					check_date(col, v, cutoff, tablecxt);
				else
					check_text(col, v);
			}
			rows++;
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(batchcxt);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	gdpr_spi_finish();
	return rows;
}

/* sample_table's arguments and result, for gdpr_subxact_run */
typedef struct SampleRun
{
	DiscTable  *t;
	List	   *sampled;
	int			sample;
	const char *cutoff;
	MemoryContext tablecxt;
	int			rows;
} SampleRun;

/*
 * sample_run
 *		sample_table, run in sample_table_safely's subtransaction.
 */
static void
sample_run(void *arg)
{
	SampleRun  *run = arg;

	run->rows = sample_table(run->t, run->sampled, run->sample, run->cutoff, run->tablecxt);
}

/*
 * sample_table_safely
 *		sample_table in a subtransaction: an error (a lock timeout, a
 *		failing output function, a policy) marks the sampled columns as not
 *		examined, with the error's message, and discovery goes on.
 *		Returns the rows read, or -1.
 */
static int
sample_table_safely(DiscTable *t, List *sampled, int sample, const char *cutoff,
					MemoryContext tablecxt)
{
	SampleRun	run = {t, sampled, sample, cutoff, tablecxt, -1};
	ErrorData  *edata = gdpr_subxact_run(sample_run, &run);
	ListCell   *lc;
	char	   *why;

	if (edata == NULL)
		return run.rows;
	why = psprintf("reading the table failed: %s", edata->message);
	foreach(lc, sampled)
	{
		DiscColumn *col = lfirst(lc);

		col->not_examined = why;
		col->nonnull = 0;
		memset(col->hits, 0, sizeof(col->hits));
	}
	FreeErrorData(edata);
	return -1;
}

/* ------------------------------------------------------------------------
 * The function
 * ------------------------------------------------------------------------
 */

/*
 * load_columns
 *		The tables and columns to look at: every column of coverage that
 *		is not ignored, in order of table name and column number.  PII
 *		columns are only context (a street address makes a city column
 *		suspect); they are neither sampled nor reported.  Read as the extension's
 *		owner (the names are in the catalogs anyway).
 */
static List *
load_columns(void)
{
	List	   *tables = NIL;
	DiscTable  *t = NULL;
	MemoryContext caller = CurrentMemoryContext;

	gdpr_spi_connect();
	(void) gdpr_owner_execute(NULL,
							  "SELECT c.rel::pg_catalog.oid, a.attnum, c.column_name::pg_catalog.text, "
							  "c.status, a.atttypid "
							  "FROM gdpr.coverage c "
							  "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.rel "
							  "AND a.attname = c.column_name "
							  "JOIN pg_catalog.pg_class k ON k.oid = c.rel "
							  "JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace "
							  "WHERE c.status IN ('unclassified', 'not_pii', 'pii') "
							  "ORDER BY n.nspname, k.relname, a.attnum",
							  0, NULL, NULL, NULL, true, 0);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		MemoryContext old = MemoryContextSwitchTo(caller);
		DiscColumn *col = palloc0(sizeof(DiscColumn));

		if (t == NULL || t->relid != relid)
		{
			t = palloc0(sizeof(DiscTable));
			t->relid = relid;
			tables = lappend(tables, t);
		}
		col->attnum = DatumGetInt16(SPI_getbinval(tup, desc, 2, &isnull));
		col->attname = pstrdup(SPI_getvalue(tup, desc, 3));
		col->status = pstrdup(SPI_getvalue(tup, desc, 4));
		col->pii = strcmp(col->status, "pii") == 0;
		col->typid = getBaseType(DatumGetObjectId(SPI_getbinval(tup, desc, 5, &isnull)));
		t->columns = lappend(t->columns, col);
		MemoryContextSwitchTo(old);
	}
	gdpr_spi_finish();
	return tables;
}

/*
 * sample_how
 *		How a column of this (base) type is sampled.
 */
static SampleHow
sample_how(Oid typid)
{
	if (typid == DATEOID)
		return SAMPLE_DATE;
	if (typid == INETOID || typid == CIDROID)
		return SAMPLE_INET;
	if (TypeCategory(typid) == TYPCATEGORY_STRING || typid == INT8OID ||
		typid == NUMERICOID || typid == JSONOID || typid == JSONBOID)
		return SAMPLE_TEXT;
	return SAMPLE_NONE;
}

/*
 * emit
 *		Put out the row of one column, if there is anything to say about it.
 */
static void
emit(ReturnSetInfo *rsinfo, DiscTable *t, DiscColumn *col, int rows, bool address_nearby)
{
	Datum		values[7];
	bool		nulls[7] = {0};
	const char *kind = NULL;
	int			best = -1;
	StringInfoData evidence;
	bool		by_name = col->name_kind != NULL && (!col->weak || address_nearby);

	if (col->not_examined == NULL && col->how != SAMPLE_NONE && rows >= 0)
		for (int k = 0; k < VK_COUNT; k++)
			if (value_kind_passes(col, k) && (best < 0 || col->hits[k] > col->hits[best]))
				best = k;

	if (!by_name && best < 0 && col->not_examined == NULL)
		return;

	initStringInfo(&evidence);
	if (by_name)
	{
		kind = col->name_kind;
		appendStringInfo(&evidence, "name \"%s\" matches \"%s\"", col->attname, col->name_entry);
		if (col->weak)
			appendStringInfoString(&evidence, " in a table with a street address or postcode");
	}
	if (best >= 0)
	{
		kind = value_kind_names[best];
		if (col->how == SAMPLE_INET)
			appendStringInfo(&evidence, "%sits type holds IP addresses (%d values sampled)",
							 by_name ? "; " : "", col->nonnull);
		else
			appendStringInfo(&evidence, "%s%d of %d non-null sampled values %s",
							 by_name ? "; " : "", col->hits[best], col->nonnull,
							 value_kind_phrases[best]);
	}
	if (col->not_examined != NULL)
		appendStringInfo(&evidence, "%svalues not examined: %s",
						 by_name ? "; " : "", col->not_examined);

	values[0] = ObjectIdGetDatum(t->relid);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(col->attname));
	values[2] = CStringGetTextDatum(col->status);
	if (kind != NULL)
		values[3] = CStringGetTextDatum(kind);
	else
		nulls[3] = true;
	values[4] = CStringGetTextDatum(evidence.data);
	if (col->not_examined != NULL)
	{
		nulls[5] = true;
		nulls[6] = true;
	}
	else
	{
		values[5] = Int32GetDatum(best >= 0 ? col->hits[best] : 0);
		/* rows read, for a column whose values were looked at */
		values[6] = Int32GetDatum(col->how != SAMPLE_NONE ? Max(rows, 0) : 0);
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * birth_cutoff
 *		The latest plausible date of birth, as ISO text: 16 years ago.
 */
static char *
birth_cutoff(void)
{
	char	   *result;
	MemoryContext caller = CurrentMemoryContext;

	gdpr_spi_connect();
	if (SPI_execute("SELECT pg_catalog.to_char(CURRENT_DATE "
					"OPERATOR(pg_catalog.-) interval '16 years', 'YYYY-MM-DD')",
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI_execute failed");
	result = MemoryContextStrdup(caller, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	gdpr_spi_finish();
	return result;
}

/*
 * gdpr_discover
 *		gdpr.discover(sample integer DEFAULT 1000)
 */
Datum
gdpr_discover(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			sample;
	List	   *tables;
	ListCell   *lt;
	char	   *cutoff;
	Oid			userid = GetUserId();
	MemoryContext tablecxt;

	if (PG_ARGISNULL(0) || PG_GETARG_INT32(0) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sample must be zero or a positive number of rows"),
				 errhint("Zero looks at column names only.")));
	sample = PG_GETARG_INT32(0);

	InitMaterializedSRF(fcinfo, 0);
	cutoff = birth_cutoff();
	tables = load_columns();
	tablecxt = AllocSetContextCreate(CurrentMemoryContext, "gdpr discover table",
									 ALLOCSET_DEFAULT_SIZES);

	foreach(lt, tables)
	{
		DiscTable  *t = lfirst(lt);
		bool		person = is_person_table(t->relid);
		bool		address_nearby = false;
		bool		schema_usable;
		List	   *sampled = NIL;
		ListCell   *lc;
		int			rows = 0;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		if (get_rel_relkind(t->relid) == '\0')
			continue;			/* dropped meanwhile */
		old = MemoryContextSwitchTo(tablecxt);
		schema_usable = gdpr_schema_usable(get_rel_namespace(t->relid), userid);
		foreach(lc, t->columns)
		{
			DiscColumn *col = lfirst(lc);

			match_name(col, person);
			if (col->name_kind != NULL && !col->weak &&
				(strcmp(col->name_kind, "address") == 0 || strcmp(col->name_kind, "postcode") == 0))
				address_nearby = true;
			if (col->pii)
				continue;
			col->how = sample_how(col->typid);
			col->readable = schema_usable &&
				(pg_class_aclcheck(t->relid, userid, ACL_SELECT) == ACLCHECK_OK ||
				 pg_attribute_aclcheck(t->relid, col->attnum, userid, ACL_SELECT) == ACLCHECK_OK);
			if (!col->readable)
				col->not_examined = schema_usable
					? "no SELECT privilege on the column"
					: "no USAGE privilege on the table's schema";
			else if (col->how != SAMPLE_NONE && sample > 0)
				sampled = lappend(sampled, col);
		}
		if (sampled != NIL)
			rows = sample_table_safely(t, sampled, sample, cutoff, tablecxt);
		MemoryContextSwitchTo(old);

		foreach(lc, t->columns)
			if (!((DiscColumn *) lfirst(lc))->pii)
				emit(rsinfo, t, lfirst(lc), rows, address_nearby);
		MemoryContextReset(tablecxt);
	}
	PG_RETURN_VOID();
}
