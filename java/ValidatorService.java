/*
 * EPUBCheck or the Nu Html Checker kept warm: loaded once, then serving
 * checks over a Unix domain socket, so that a build pays the JVM's start and
 * the schemas' compilation once rather than on every check
 * (pipeline/check/service.py starts it and talks to it).
 *
 *   java -cp build/java:<epubcheck.jar> ValidatorService epubcheck SOCKET KEY IDLE_SECONDS [OPTIONS...]
 *   java -cp build/java:<vnu.jar>       ValidatorService vnu SOCKET KEY IDLE_SECONDS [OPTIONS...]
 *
 * One JVM per validator: vnu.jar bundles its own Jing and Saxon, which must
 * not meet EPUBCheck's. OPTIONS are the one-shot run's options; the reply
 * is what that run would print, so the same parser reads both.
 *
 * Protocol, one request per connection, lines in UTF-8, fields split by tabs:
 *   "ping\tKEY\n"          -> "pong\tKEY\tPID\tSERVED\tCHECKING\n" (checks done, checks under way or waiting)
 *   "check\tKEY\tPATH\n"   -> "done\tKEY\tPID\tSERVED\tSTATUS\tOUT_BYTES\tERR_BYTES\n" OUT ERR
 *   "stop\tKEY\n"          -> "stopping\tKEY\tPID\n", then the service ends
 * A request with another KEY gets "wrong-key\tKEY\n": a service never
 * answers for validators or options other than its own. A connection from
 * another user is closed unanswered (the socket's folder is 0700 already).
 * With no request for IDLE_SECONDS the service removes its socket and ends.
 */

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.Arrays;
import java.util.Objects;
import java.util.Properties;

public final class ValidatorService {

    interface Validator {
        /** Check the file at path as the one-shot run would; its stdout to out, its stderr to err. */
        int check(String path, PrintStream out, PrintStream err) throws Exception;
    }

    private static final Object CHECKING = new Object(); // one check at a time: the validators keep static state
    private static final PrintStream LOG = System.err;
    private static volatile long lastUsed = System.nanoTime();
    private static volatile int active = 0; // requests open
    private static final java.util.concurrent.atomic.AtomicInteger checking = new java.util.concurrent.atomic.AtomicInteger();
    private static int served = 0;

    public static void main(String[] args) throws Exception {
        if (args.length < 4) {
            LOG.println("usage: ValidatorService epubcheck|vnu SOCKET KEY IDLE_SECONDS [OPTIONS...]");
            System.exit(2);
        }
        String kind = args[0];
        Path socket = Path.of(args[1]);
        String key = args[2];
        long idleNanos = Long.parseLong(args[3]) * 1_000_000_000L;
        String[] options = Arrays.copyOfRange(args, 4, args.length);
        Validator validator = kind.equals("epubcheck") ? new Epub(options) : kind.equals("vnu") ? new Html(options) : null;
        if (validator == null) {
            LOG.println("unknown validator: " + kind);
            System.exit(2);
        }
        long pid = ProcessHandle.current().pid();
        UserPrincipal me = Files.getOwner(socket.getParent(), LinkOption.NOFOLLOW_LINKS);

        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            server.bind(UnixDomainSocketAddress.of(socket));
        } catch (IOException e) {
            LOG.println("cannot open " + socket + ": " + e + " (another service has it?)");
            System.exit(3);
        }
        Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-------"));
        Object boundAs = Files.readAttributes(socket, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
        LOG.println("serving " + kind + " as process " + pid + " on " + socket);

        Thread idle = new Thread(() -> {
            while (true) {
                try {
                    Thread.sleep(1000);
                } catch (InterruptedException e) {
                    return;
                }
                if (active == 0 && System.nanoTime() - lastUsed > idleNanos) {
                    LOG.println("idle for " + args[3] + " s after " + served + " check(s): ending");
                    shutDown(socket, boundAs);
                }
            }
        });
        idle.setDaemon(true);
        idle.start();

        while (true) {
            SocketChannel client = server.accept();
            Thread t = new Thread(() -> serve(client, validator, key, pid, me, socket, boundAs));
            t.setDaemon(true);
            t.start();
        }
    }

    /** Remove the socket, if it is still the one this service bound, and end. */
    private static void shutDown(Path socket, Object boundAs) {
        try {
            Object now = Files.readAttributes(socket, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
            if (Objects.equals(now, boundAs)) {
                Files.delete(socket);
            }
        } catch (IOException e) {
            // gone already, or replaced by a newer service's socket
        }
        System.exit(0);
    }

    private static void serve(SocketChannel client, Validator validator, String key, long pid, UserPrincipal me,
                              Path socket, Object boundAs) {
        synchronized (ValidatorService.class) {
            active++;
            lastUsed = System.nanoTime();
        }
        try (client) {
            UserPrincipal peer = client.getOption(jdk.net.ExtendedSocketOptions.SO_PEERCRED).user();
            if (!peer.getName().equals(me.getName())) {
                LOG.println("refused a connection from user " + peer.getName());
                return;
            }
            InputStream in = java.nio.channels.Channels.newInputStream(client);
            String[] request = readLine(in).split("\t", -1);
            if (request.length < 2 || !request[1].equals(key)) {
                write(client, "wrong-key\t" + key + "\n", new byte[0], new byte[0]);
                return;
            }
            switch (request[0]) {
                case "ping":
                    write(client, "pong\t" + key + "\t" + pid + "\t" + served + "\t" + checking.get() + "\n", new byte[0], new byte[0]);
                    break;
                case "stop":
                    write(client, "stopping\t" + key + "\t" + pid + "\n", new byte[0], new byte[0]);
                    LOG.println("stopped on request after " + served + " check(s)");
                    shutDown(socket, boundAs);
                    break;
                case "check":
                    if (request.length == 3) {
                        check(client, validator, key, pid, request[2]);
                    }
                    break;
                default:
                    break;
            }
        } catch (IOException e) {
            LOG.println("a client went away: " + e);
        } finally {
            synchronized (ValidatorService.class) {
                active--;
                lastUsed = System.nanoTime();
            }
        }
    }

    private static void check(SocketChannel client, Validator validator, String key, long pid, String path)
            throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status;
        int number;
        checking.incrementAndGet();
        try {
            synchronized (CHECKING) {
                long start = System.nanoTime();
                try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
                     PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
                    try {
                        status = validator.check(path, o, e);
                    } catch (Throwable failure) {
                        failure.printStackTrace(e);
                        status = 1;
                    }
                }
                number = ++served;
                LOG.printf("check %d: %s, status %d, %.3f s%n", number, path, status, (System.nanoTime() - start) / 1e9);
            }
        } finally {
            checking.decrementAndGet();
        }
        write(client, "done\t" + key + "\t" + pid + "\t" + number + "\t" + status + "\t" + out.size() + "\t" + err.size()
              + "\n", out.toByteArray(), err.toByteArray());
    }

    private static String readLine(InputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        for (int b = in.read(); b != '\n'; b = in.read()) {
            if (b < 0) {
                throw new IOException("the request ended before its end of line");
            }
            line.write(b);
        }
        return line.toString(StandardCharsets.UTF_8);
    }

    private static void write(SocketChannel client, String head, byte[] out, byte[] err) throws IOException {
        for (byte[] part : new byte[][] {head.getBytes(StandardCharsets.UTF_8), out, err}) {
            ByteBuffer buffer = ByteBuffer.wrap(part);
            while (buffer.hasRemaining()) {
                client.write(buffer);
            }
        }
    }

    /** EPUBCheck's own command line, run in this JVM: the same report, the same JSON. */
    static final class Epub implements Validator {
        private final String[] options;

        Epub(String[] options) {
            this.options = options;
        }

        public int check(String path, PrintStream out, PrintStream err) {
            String[] args = new String[options.length + 1];
            args[0] = path;
            System.arraycopy(options, 0, args, 1, options.length);
            PrintStream stdout = System.out;
            PrintStream stderr = System.err;
            System.setOut(out); // the JSON report goes to System.out ("--json -")
            System.setErr(err);
            try {
                return new com.adobe.epubcheck.tool.EpubChecker().run(args);
            } finally {
                System.setOut(stdout);
                System.setErr(stderr);
            }
        }
    }

    /**
     * The Nu Html Checker as its command line (nu.validator.client.SimpleCommandLineValidator)
     * runs it for one HTML file with the options below; that class ends the JVM when it is done,
     * so its few steps are repeated here with vnu's own classes.
     */
    static final class Html implements Validator {
        static final String OPTIONS = "--no-langdetect --format json --stdout --exit-zero-always";
        static final String SCHEMA = "http://s.validator.nu/html5-all.rnc";
        private final String version;

        Html(String[] options) throws IOException {
            if (!String.join(" ", options).equals(OPTIONS)) {
                throw new IllegalArgumentException("this service runs the Nu Html Checker with '" + OPTIONS
                                                   + "' only, not '" + String.join(" ", options) + "'");
            }
            System.setProperty("nu.validator.datatype.warn", "true");
            Properties props = new Properties();
            try (InputStream in = nu.validator.validation.SimpleDocumentValidator.class.getClassLoader()
                    .getResourceAsStream("nu/validator/localentities/files/misc.properties")) {
                props.load(in);
            }
            version = props.getProperty("nu.validator.servlet.version", "[unknown version]");
        }

        private nu.validator.validation.SimpleDocumentValidator validator;

        public int check(String path, PrintStream out, PrintStream err) throws Exception {
            PrintStream stderr = System.err;
            System.setErr(err);
            try {
                if (validator == null) { // the schema, compiled once
                    // --no-langdetect: new SimpleDocumentValidator(true, false, false)
                    validator = new nu.validator.validation.SimpleDocumentValidator(true, false, false);
                    validator.setAllowCss(false);
                    validator.setUpMainSchema(SCHEMA, new nu.validator.xml.SystemErrErrorHandler());
                }
                nu.validator.source.SourceCode source = validator.getSourceCode();
                nu.validator.messages.MessageEmitterAdapter handler = new nu.validator.messages.MessageEmitterAdapter(
                    null, source, false, new nu.validator.servlet.imagereview.ImageCollector(source), 0, true,
                    new nu.validator.messages.JsonMessageEmitter(new nu.validator.json.Serializer(out), null, false,
                                                                 version));
                handler.setErrorsOnly(false);
                handler.setSkipInfoMessages(false);
                handler.setHtml(true);
                handler.start(null);
                validator.setUpValidatorAndParsers(handler, false, false);
                File file = new File(path);
                if (file.exists()) {
                    try {
                        validator.checkHtmlFile(file, true);
                    } catch (org.xml.sax.SAXException e) {
                        err.printf("\"%s\":-1:-1: warning: %s%n", file.toURI().toURL(), e.getMessage());
                    }
                }
                handler.end("Document checking completed. No errors found.", "Document checking completed.", "");
                out.flush();
                return 0; // --exit-zero-always
            } finally {
                System.setErr(stderr);
            }
        }
    }
}
