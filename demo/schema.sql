-- demo/schema.sql: the sample shop used by demo/run.
--
-- A small web shop: people, their login account (one-to-one), the comments
-- they post and the orders they place (many-to-one).  Every name, address,
-- e-mail address and phone number below is made up: e-mail domains are the
-- reserved example.* ones, phone numbers are from Ofcom's drama range.
-- Nothing here mentions gdpr: demo/run declares the personal data itself.

CREATE TABLE people (
    id              integer     PRIMARY KEY,
    full_name       text        NOT NULL,
    email           text        NOT NULL UNIQUE,
    phone           text,
    date_of_birth   date,
    joined_at       timestamptz NOT NULL
);

-- one account per person; it goes when the person goes
CREATE TABLE accounts (
    id              integer     PRIMARY KEY,
    person_id       integer     NOT NULL UNIQUE
                    REFERENCES people (id) ON DELETE CASCADE,
    username        text        NOT NULL UNIQUE,
    password_hash   text        NOT NULL,
    last_login_ip   inet
);

-- comments stay on the site when their author leaves, without the author
CREATE TABLE comments (
    id              integer     PRIMARY KEY,
    author_id       integer     REFERENCES people (id) ON DELETE SET NULL,
    author_name     text        NOT NULL,
    author_ip       inet,
    body            text        NOT NULL,
    posted_at       timestamptz NOT NULL
);

-- orders are kept for the accounts (and the tax office), but not whom they
-- went to; guest orders have no customer_id, only a contact e-mail address
CREATE TABLE orders (
    id              integer     PRIMARY KEY,
    customer_id     integer     REFERENCES people (id) ON DELETE SET NULL,
    contact_email   text,
    shipping_name   text        NOT NULL,
    shipping_street text        NOT NULL,
    shipping_city   text        NOT NULL,
    postcode        text        NOT NULL,
    total           numeric(10,2) NOT NULL,
    placed_at       timestamptz NOT NULL
);

INSERT INTO people (id, full_name, email, phone, date_of_birth, joined_at) VALUES
    (1, 'Alice Martin',   'alice.martin@example.com', '+44 7700 900123', '1988-04-12', '2023-02-01 09:12:00+00'),
    (2, 'Bob Okafor',     'bob.okafor@example.net',   '+44 7700 900456', '1979-11-30', '2023-03-15 18:40:00+00'),
    (3, 'Chloé Dubois',   'chloe.dubois@example.org', NULL,              '1995-07-03', '2023-06-21 07:05:00+00'),
    (4, 'Dmitri Ivanov',  'd.ivanov@example.com',     '+44 7700 900789', NULL,         '2024-01-09 21:33:00+00'),
    (5, 'Eva Nowak',      'eva.nowak@example.net',    '+44 7700 900321', '2001-02-14', '2024-05-30 12:00:00+00'),
    (6, 'Farah Khan',     'farah.khan@example.org',   NULL,              '1990-09-09', '2024-08-17 16:45:00+00');

INSERT INTO accounts (id, person_id, username, password_hash, last_login_ip) VALUES
    (101, 1, 'alicem',   '$2b$12$Qm9ndXNIYXNoRm9yQWxpY2VNYXJ0aW4uLi4uLi4uLi4uLi4u', '203.0.113.7'),
    (102, 2, 'bobo',     '$2b$12$Qm9ndXNIYXNoRm9yQm9iT2thZm9yLi4uLi4uLi4uLi4uLi4u', '198.51.100.23'),
    (103, 3, 'chloed',   '$2b$12$Qm9ndXNIYXNoRm9yQ2hsb2VEdWJvaXMuLi4uLi4uLi4uLi4u', NULL),
    (104, 4, 'dmitri',   '$2b$12$Qm9ndXNIYXNoRm9yRG1pdHJpSXZhbm92Li4uLi4uLi4uLi4u', '192.0.2.44'),
    (105, 5, 'evan',     '$2b$12$Qm9ndXNIYXNoRm9yRXZhTm93YWsuLi4uLi4uLi4uLi4uLi4u', '203.0.113.99'),
    (106, 6, 'farahk',   '$2b$12$Qm9ndXNIYXNoRm9yRmFyYWhLaGFuLi4uLi4uLi4uLi4uLi4u', NULL);

INSERT INTO comments (id, author_id, author_name, author_ip, body, posted_at) VALUES
    (201, 1, 'Alice Martin',  '203.0.113.7',   'The blue teapot arrived in one piece. Lovely glaze!', '2023-02-10 10:00:00+00'),
    (202, 2, 'Bob Okafor',    '198.51.100.23', 'Does the kettle come with a UK plug?',                 '2023-03-16 08:30:00+00'),
    (203, 1, 'Alice Martin',  '203.0.113.7',   'Yes it does, mine had one.',                           '2023-03-16 09:02:00+00'),
    (204, 5, 'Eva Nowak',     '203.0.113.99',  'Five stars for the quick delivery.',                   '2024-06-02 19:15:00+00'),
    (205, 6, 'Farah Khan',    NULL,            'Any plans to stock green tea?',                        '2024-08-20 11:11:00+00');

INSERT INTO orders (id, customer_id, contact_email, shipping_name, shipping_street, shipping_city, postcode, total, placed_at) VALUES
    (301, 1,    'alice.martin@example.com', 'Alice Martin',  '12 Acacia Avenue',   'Bristol',    'BS1 4DJ',  34.50, '2023-02-03 14:20:00+00'),
    (302, 2,    'bob.okafor@example.net',   'Bob Okafor',    '7 Canal Street',     'Manchester', 'M1 3HE',   89.99, '2023-03-18 10:05:00+00'),
    (303, 1,    'alice.martin@example.com', 'Alice Martin',  '12 Acacia Avenue',   'Bristol',    'BS1 4DJ',  12.00, '2023-11-25 17:45:00+00'),
    (304, NULL, 'alice.martin@example.com', 'A. Martin',     '3 Harbour Lane',     'Falmouth',   'TR11 3XZ', 21.75, '2024-03-02 08:00:00+00'),
    (305, 5,    'eva.nowak@example.net',    'Eva Nowak',     '55 Rose Hill',       'Leeds',      'LS6 2QP',  47.10, '2024-05-31 13:37:00+00'),
    (306, 6,    'farah.khan@example.org',   'Farah Khan',    '9 Mill Road',        'Cambridge',  'CB1 2AD',  15.00, '2024-08-18 09:30:00+00');
